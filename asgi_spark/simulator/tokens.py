"""The simulator's token counter: one rule, used for usage, limits and truncation.

A token is a run of ASCII letters, digits and ``_``, or any other single non-space character
(one CJK character, one punctuation mark, one emoji).  This is not Spark's tokenizer; it only
has to be deterministic and roughly proportionate (one Chinese character is about one token).
"""

from __future__ import annotations

import re
from typing import Final

_TOKEN: Final = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def count_tokens(text: str) -> int:
    """Number of CJK characters + ASCII word runs + other non-space characters in ``text``."""
    return sum(1 for _ in _TOKEN.finditer(text))


def truncate_tokens(text: str, limit: int) -> str:
    """``text`` cut right after its ``limit``-th token (``""`` for ``limit <= 0``)."""
    if limit <= 0:
        return ""
    for index, match in enumerate(_TOKEN.finditer(text), start=1):
        if index == limit:
            return text[: match.end()]
    return text
