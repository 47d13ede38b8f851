"""A token estimate for what Spark does not count: the answer that the ``stop`` emulation cut
(Spark reports usage only in its final frame, which a closed session never sends).

A token is taken to be a run of ASCII letters, digits and ``_``, or any other single non-space
character (one CJK character, one punctuation mark).  This is not Spark's tokenizer (iFlytek
does not publish one); it is proportionate, which is what a usage figure that would otherwise
be missing needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .openai_types import ChatCompletionRequest

_TOKEN: Final = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def estimate_tokens(texts: Iterable[str]) -> int:
    """The estimated tokens of ``texts`` together."""
    return sum(len(_TOKEN.findall(text)) for text in texts)


def prompt_texts(request: ChatCompletionRequest) -> Iterable[str]:
    """The texts of a request's messages (what Spark counts as ``prompt_tokens``)."""
    return (message.text for message in request.messages)


__all__ = ["estimate_tokens", "prompt_texts"]
