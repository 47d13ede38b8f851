"""Prompt directives: ``[spark:key=value,key=value]`` inside the last user message.

They let anyone reproduce a failure offline through the gateway, e.g.
``tell me a joke [spark:error_code=10014,error_after=2]``.  Keys are the :class:`.Faults` field
names except the handshake ones and ``accept_binary`` (they act before the prompt is read).
Several blocks are merged left to right.  Blocks are removed from the text the simulator echoes.
A malformed block, an unknown key or a bad value is an error that names the block, so users see
their typo.
"""

from __future__ import annotations

import re
from typing import Final

from .faults import CONNECTION_FIELDS, QUOTED_VALUE, Faults, parse_assignments

_BLOCK: Final = re.compile(rf"\[spark:((?:{QUOTED_VALUE}|[^\]\"])*)\]")
_OPENER: Final = "[spark:"


class DirectiveError(ValueError):
    """A bad directive; ``str()`` names the block and what is wrong with it."""


def extract_directives(text: str) -> tuple[str, Faults]:
    """Return ``text`` without its directive blocks, and the faults they ask for.

    Raises :class:`DirectiveError` for a block that does not parse, an unknown key, a bad value,
    a handshake key or an unterminated ``[spark:``.
    """
    faults = Faults()
    for match in _BLOCK.finditer(text):
        block = match.group(0)
        try:
            found = parse_assignments(match.group(1))
            early = sorted(CONNECTION_FIELDS.intersection(found))
            if early:
                raise ValueError(
                    f"{', '.join(early)} cannot be set from a prompt (it acts before the prompt "
                    "is read); set it from Python or with asgi-spark simulator --fault"
                )
            faults = faults.merged(Faults(**found))
        except ValueError as exc:
            raise DirectiveError(f"invalid simulator directive {block}: {exc}") from None
    if faults.is_empty() and _OPENER not in text:
        return text, faults
    stripped = _BLOCK.sub("", text)
    if _OPENER in stripped:
        start = stripped.index(_OPENER)
        raise DirectiveError(
            f"invalid simulator directive {stripped[start : start + 40]!r}: "
            "expected [spark:key=value,...]"
        )
    return _tidy(stripped), faults


def _tidy(text: str) -> str:
    """Collapse the blanks left where a block was removed."""
    return re.sub(r"[ \t]{2,}", " ", text).strip()
