"""The logger the gateway hands ``websockets`` for its own upstream connections: nothing secret.

Left to itself, ``websockets`` logs a client connection's life on ``websockets.client`` at
DEBUG: the request line with the signed query (``authorization``, ``date``, ``host``), every
frame's first bytes (the request frame's ``app_id`` and the user's words among them) and, on
internal errors, tracebacks whose text may quote the URL.  A host application whose root logger
is at DEBUG would write all of it.

The connector passes :data:`UPSTREAM_LOG` instead: records go to the logger
``asgi_spark.upstream`` (so they follow the gateway's logging configuration, not the
library's), each message is formatted here and passed through
:func:`~asgi_spark.secrets.redact_upstream`, data frames are shown by kind and size only, and an
exception is shown by its type and redacted text, never as a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from websockets.frames import DATA_OPCODES, Frame

from ..secrets import redact_upstream

#: Where the gateway's upstream connections log (DEBUG: the connection's life, redacted).
LOGGER_NAME: Final = "asgi_spark.upstream"

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at run time before Python 3.11
    _Adapter = logging.LoggerAdapter


class RedactingLogger(_Adapter):
    """A ``LoggerAdapter`` that formats, then redacts, every message before it is logged."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = _format(msg, args)
        exc_info = kwargs.pop("exc_info", None)
        kwargs.pop("stack_info", None)
        error = _exception(exc_info)
        if error is not None:
            detail = f": {error}" if str(error) else ""
            text = f"{text} ({type(error).__name__}{detail})"
        extra: Mapping[str, object] | None = kwargs.get("extra")
        self.logger.log(level, "%s", redact_upstream(text), extra=extra)


def _format(msg: object, args: tuple[object, ...]) -> str:
    shown = tuple(_describe(arg) for arg in args)
    try:
        return str(msg) % shown if shown else str(msg)
    except (TypeError, ValueError):
        return " ".join([str(msg), *map(str, shown)])


def _describe(arg: object) -> object:
    """A data frame by its kind and size only: its payload is the user's words or the app id."""
    if isinstance(arg, Frame) and arg.opcode in DATA_OPCODES:
        return f"{arg.opcode.name} [{len(arg.data)} bytes]"
    return arg


def _exception(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


#: What the connector passes as ``websockets``' ``logger``.
UPSTREAM_LOG: Final = RedactingLogger(logging.getLogger(LOGGER_NAME), {})

__all__ = ["LOGGER_NAME", "UPSTREAM_LOG", "RedactingLogger"]
