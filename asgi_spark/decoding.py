"""JSON decoding whose failures do not depend on msgspec's release.

msgspec's exception classes and texts drift between releases: for invalid UTF-8 inside a string,
0.18 raises ``UnicodeDecodeError`` while 0.23 raises ``DecodeError("Invalid UTF-8 encoded
string")``; a lone surrogate in a ``str`` raises ``UnicodeEncodeError``; nesting deeper than its
limit raises ``RecursionError``.  Every decode site of the gateway (request bodies, Spark
frames, config files, the simulator's request check) goes through :func:`decode`, which sorts
any failure into one :class:`JsonDecodeFailure` whose :attr:`~JsonDecodeFailure.kind` the
gateway decides itself (the input is re-examined, never the library's wording), so each site can
say it in its own words:

* ``"encoding"``: the input is not valid UTF-8 (bytes), or holds a lone surrogate (``str``);
* ``"depth"``: valid so far, but nested deeper than the decoder can go;
* ``"syntax"``: not JSON (``detail`` is msgspec's description, for humans only);
* ``"schema"``: JSON of the wrong shape; ``path`` is the field path (``messages[0].role``).

The happy path costs nothing extra: the input is examined only after a failure.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Protocol, TypeVar

import msgspec

T = TypeVar("T", covariant=True)

FailureKind = Literal["encoding", "depth", "syntax", "schema"]

_AT: Final = " - at `$"


class Decoder(Protocol[T]):
    def decode(self, data: Any, /) -> T: ...


class JsonDecodeFailure(Exception):
    """Why a JSON text could not be decoded; see the module docstring for the kinds."""

    def __init__(self, kind: FailureKind, detail: str, path: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}" + (f" (at {path})" if path else ""))
        self.kind: FailureKind = kind
        self.detail = detail
        self.path = path

    def describe(self, subject: str) -> str:
        """The gateway's wording, e.g. ``"the request body is not valid UTF-8"``.

        For ``"schema"`` failures it says ``"<subject> is malformed: <detail>"``; sites with
        their own wording for those use :attr:`detail` and :attr:`path`.
        """
        if self.kind == "encoding":
            return f"{subject} is not valid UTF-8"
        if self.kind == "depth":
            return f"{subject} is not valid JSON: it is nested too deeply"
        if self.kind == "syntax":
            return f"{subject} is not valid JSON: {self.detail}"
        where = f" (at '{self.path}')" if self.path else ""
        return f"{subject} is malformed: {self.detail}{where}"


def decode(decoder: Decoder[T], data: bytes | str) -> T:
    """``decoder.decode(data)``, or :class:`JsonDecodeFailure` (never another exception)."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        detail, path = split_path(str(exc))
        raise JsonDecodeFailure("schema", detail, path) from None
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # UnicodeError is a ValueError
        raise classify(data, exc) from None


def classify(data: bytes | str, exc: BaseException) -> JsonDecodeFailure:
    """The failure of decoding ``data`` that raised ``exc``, judged from ``data`` first."""
    if not is_utf8(data):
        return JsonDecodeFailure("encoding", "the text is not valid UTF-8")
    if isinstance(exc, RecursionError):
        return JsonDecodeFailure("depth", "the JSON is nested too deeply")
    return JsonDecodeFailure("syntax", str(exc) or type(exc).__name__)


def is_utf8(data: bytes | str) -> bool:
    """Whether ``data`` is valid UTF-8 (bytes) or encodable as UTF-8 (``str``)."""
    try:
        if isinstance(data, str):
            data.encode("utf-8")
        else:
            bytes(data).decode("utf-8")
    except UnicodeError:
        return False
    return True


def split_path(message: str) -> tuple[str, str | None]:
    """msgspec's ``"<what> - at `$.a[0].b`"`` as ``("<what>", "a[0].b")``."""
    text, found, path = message.rpartition(_AT)
    if not found:
        return message, None
    return text, path.removesuffix("`").removeprefix(".") or None


__all__ = [
    "Decoder",
    "FailureKind",
    "JsonDecodeFailure",
    "classify",
    "decode",
    "is_utf8",
    "split_path",
]
