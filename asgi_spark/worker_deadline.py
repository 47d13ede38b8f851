"""The request-header deadline of ``asgi-spark serve --workers N``'s worker processes, read
from the environment the supervisor leaves them (:data:`HEADER_TIMEOUT_ENV`): the part the h11
and httptools protocol classes of :mod:`.serve_workers` and :mod:`.serve_workers_httptools`
share."""

from __future__ import annotations

import functools
import os
from typing import Any, Final

from .config.security import DEFAULT_HEADER_TIMEOUT
from .serve_protocol import HeaderDeadline

#: The header deadline of the workers (seconds), set by ``serve`` before they start.
HEADER_TIMEOUT_ENV: Final = "ASGI_SPARK_HEADER_TIMEOUT"


@functools.lru_cache(maxsize=1)
def worker_header_timeout() -> float:
    """The deadline the supervisor set (the default when there is none)."""
    return float(os.environ.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT)


class FromEnvironment(HeaderDeadline):
    """A :class:`~.serve_protocol.HeaderDeadline` whose deadline is the workers'."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = worker_header_timeout()


__all__ = ["HEADER_TIMEOUT_ENV", "FromEnvironment", "worker_header_timeout"]
