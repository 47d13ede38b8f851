"""The request id: the client's ``X-Request-ID`` when it sends a valid one, else a new one.

The id is returned in the response's ``X-Request-ID`` header and is the access log's
``request_id``, so a client's report can be found in the gateway's log.  A client's id must be
1 to :data:`MAX_LENGTH` printable ASCII characters without spaces (letters, digits and
punctuation, as UUIDs and trace ids are); anything else is a 400 naming the header, answered
with a new id.  An empty header counts as absent.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Final

from starlette.types import Scope

from .errors import InvalidRequestError

HEADER: Final = b"x-request-id"
MAX_LENGTH: Final = 128
_VALID: Final = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)


def new_request_id() -> str:
    """A fresh id: 32 lower-case hex digits, unique: a random prefix drawn per process (and
    again in a forked child) and a counter.  Ids name requests in logs and are not secrets, so
    they cost a counter step, not a UUID (``os.urandom`` and an object) per request."""
    return f"{_prefix}{next(_counter) & _MASK:016x}"


_MASK: Final = 2**64 - 1
_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


_reseed()
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reseed)


def client_request_id(scope: Scope) -> str | None:
    """The client's ``X-Request-ID`` (``None`` when absent or empty), or
    :class:`InvalidRequestError` saying what a valid one looks like."""
    raw: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name.lower() == HEADER:
            raw = value.strip()
            break
    if not raw:
        return None
    if not _VALID.fullmatch(raw):
        what = f"{len(raw)} bytes long" if len(raw) > MAX_LENGTH else "not printable ASCII"
        raise InvalidRequestError(
            f"the X-Request-ID header must be 1 to {MAX_LENGTH} printable ASCII characters "
            f"without spaces (this one is {what}); send another or leave it out",
            param="X-Request-ID",
            code="invalid_request_id",
        )
    return raw.decode("ascii")


__all__ = ["HEADER", "MAX_LENGTH", "client_request_id", "new_request_id"]
