"""Faults: what the simulator should do wrong, set from Python, the CLI or a prompt directive.

Every field is optional; ``None`` means "behave like the real service".  The same ``key=value``
syntax serves ``SparkSimulator.faults`` (as keyword arguments), ``asgi-spark simulator --fault``
and the ``[spark:key=value,...]`` prompt directives (:mod:`.directives`).  Counts are numbers of
*answer frames* (content, reasoning or function-call frames) sent before the fault fires.

When several terminating faults (``error_after``, ``close_after``, ``malformed_after``,
``hang_after``) are set, the one with the smallest count fires; on a tie the order is error,
close, malformed, hang.  For a text answer the number of frames is raised to ``count + 1`` so
that the fault fires before the final frame; a function-call answer has one frame, so any count
fires before it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

# Handshake faults act before any frame exists, and ``accept_binary`` before the frame is read,
# so a prompt directive (inside the frame) cannot set them.
HANDSHAKE_FIELDS: Final = frozenset({"handshake_status", "handshake_delay"})
CONNECTION_FIELDS: Final = HANDSHAKE_FIELDS | {"accept_binary", "times"}


def _help(text: str, parse: Callable[[str], object]) -> Any:
    return field(default=None, metadata={"help": text, "parse": parse})


def _int(raw: str) -> int:
    return int(raw.strip())


def _float(raw: str) -> float:
    value = float(raw.strip())
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number")
    return value


def _str(raw: str) -> str:
    return raw


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1/true/yes/on or 0/false/no/off")


@dataclass(frozen=True)
class Faults:
    """A fault plan.  ``Faults()`` is no fault.  Field values are checked on construction."""

    handshake_status: int | None = _help(
        "refuse the WebSocket handshake with this HTTP status (400-599) and a realistic "
        'JSON body {"message": ...}; Python/CLI only',
        _int,
    )
    handshake_delay: float | None = _help(
        "seconds to wait before answering the handshake; Python/CLI only", _float
    )
    accept_binary: bool | None = _help(
        "read a binary request frame like a text one (the real service is only known to read "
        "text frames; by default a binary frame is refused with 10001); Python/CLI only",
        _bool,
    )
    times: int | None = _help(
        "apply the other faults to the next N connections only, then behave again (to test "
        "retries); Python/CLI only",
        _int,
    )
    first_frame_delay: float | None = _help("seconds to wait before the first frame", _float)
    frame_delay: float | None = _help("seconds to wait between two frames", _float)
    error_code: int | None = _help(
        "send a header-only error frame with this Spark code (e.g. 10013, 10014, 11200, "
        "11202), then close 1000",
        _int,
    )
    error_after: int | None = _help(
        "answer frames sent before the error frame (default 0: the error comes first)", _int
    )
    error_message: str | None = _help(
        "detail text of the error frame (default: a realistic text for the code)", _str
    )
    close_after: int | None = _help(
        "abort the TCP connection (no close frame, no final frame) after N answer frames", _int
    )
    malformed_after: int | None = _help(
        "send a frame that is not valid JSON after N answer frames, then close 1000", _int
    )
    hang_after: int | None = _help(
        "send nothing more and never close after N answer frames, until the client goes away",
        _int,
    )
    chunks: int | None = _help(
        "number of content frames of a text answer, 1 or more (x1 reasoning frames come on top)",
        _int,
    )
    answer: str | None = _help("answer with this text instead of the scripted one", _str)
    function: str | None = _help(
        "answer with a call of this declared function (payload.functions.text)", _str
    )

    def __post_init__(self) -> None:
        for name in ("handshake_delay", "first_frame_delay", "frame_delay"):
            _check(name, getattr(self, name), minimum=0.0)
        for name in ("error_after", "close_after", "malformed_after", "hang_after"):
            _check(name, getattr(self, name), minimum=0)
        _check("chunks", self.chunks, minimum=1)
        _check("times", self.times, minimum=1)
        _check("error_code", self.error_code, minimum=1)
        status = self.handshake_status
        if status is not None and (isinstance(status, bool) or not 400 <= status <= 599):
            raise ValueError(
                f"handshake_status must be an HTTP status from 400 to 599, not {status!r}"
            )
        if self.accept_binary is not None and not isinstance(self.accept_binary, bool):
            raise ValueError(f"accept_binary must be a bool, not {self.accept_binary!r}")
        if self.function is not None and not self.function:
            raise ValueError("function must name a declared function")

    def merged(self, override: Faults) -> Faults:
        """These faults with every field that ``override`` sets taken from ``override``."""
        changes = {
            f.name: getattr(override, f.name)
            for f in dataclasses.fields(override)
            if getattr(override, f.name) is not None
        }
        return dataclasses.replace(self, **changes) if changes else self

    def check_combination(self) -> None:
        """``ValueError`` if ``error_after`` or ``error_message`` is set without ``error_code``."""
        if self.error_code is None:
            stray = [n for n in ("error_after", "error_message") if getattr(self, n) is not None]
            if stray:
                raise ValueError(f"{' and '.join(stray)} needs error_code")

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


def _check(name: str, value: object, *, minimum: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum:g}, not {value!r}")


FAULT_NAMES: Final = tuple(f.name for f in dataclasses.fields(Faults))

# key = bare value (no comma) or a JSON double-quoted string (may hold commas and brackets)
QUOTED_VALUE: Final = r'"(?:[^"\\]|\\.)*"'
_ASSIGNMENT: Final = re.compile(
    rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*({QUOTED_VALUE}|[^,]*?)\s*(?:,|$)"
)


def parse_assignments(text: str) -> dict[str, Any]:
    """Parse ``key=value,key=value`` into field values; ``ValueError`` naming the bad part.

    A value may be double-quoted JSON-style (``answer="a, b"``) to hold commas.  Keys must be
    :data:`FAULT_NAMES`.  Values are converted to the field's type but not range-checked:
    construct :class:`Faults` for that.
    """
    values: dict[str, Any] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ASSIGNMENT.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"expected key=value at {text[position:]!r}")
        key, raw = match.group(1), match.group(2)
        position = match.end()
        values[key] = parse_value(key, raw)
    return values


def parse_value(key: str, raw: str) -> object:
    """Convert the text ``raw`` for fault ``key``; ``ValueError`` for unknown keys or bad values."""
    if key not in FAULT_NAMES:
        raise ValueError(f"unknown key {key!r} (known: {', '.join(FAULT_NAMES)})")
    if raw.startswith('"'):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"bad quoted value for {key}: {raw}") from None
    parse: Callable[[str], object] = Faults.__dataclass_fields__[key].metadata["parse"]
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"bad value for {key}: {raw!r}") from None


def faults_from_assignments(items: Iterable[str]) -> Faults:
    """Faults from ``key=value[,key=value]`` strings (the CLI's ``--fault``); ``ValueError``."""
    values: dict[str, Any] = {}
    for item in items:
        values.update(parse_assignments(item))
    faults = Faults(**values)
    faults.check_combination()
    return faults


def describe_faults() -> str:
    """One line per fault key with its help text, for ``--help``."""
    width = max(map(len, FAULT_NAMES))
    indent = " " * (width + 4)
    return "\n".join(
        textwrap.fill(
            f"  {f.name:<{width}}  {f.metadata['help']}", width=96, subsequent_indent=indent
        )
        for f in dataclasses.fields(Faults)
    )
