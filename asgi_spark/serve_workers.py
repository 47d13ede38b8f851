"""What ``asgi-spark serve --workers N`` hands its worker processes: the request-header
deadline.

uvicorn starts each worker with ``multiprocessing``'s *spawn* and sends it its ``Config`` by
pickling, so the HTTP protocol class in it must be importable by name: the class
:func:`~asgi_spark.serve_protocol.header_timeout_protocol` makes at run time cannot travel.
The classes here are module-level, and each connection reads the deadline from
:data:`HEADER_TIMEOUT_ENV`, which the supervisor sets and the workers inherit with the rest of
its environment.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Final

from uvicorn.protocols.http.h11_impl import H11Protocol

from .config.security import DEFAULT_HEADER_TIMEOUT
from .serve_protocol import HeaderDeadline, HttpImplementation

#: The header deadline of the workers (seconds), set by ``serve`` before they start.
HEADER_TIMEOUT_ENV: Final = "ASGI_SPARK_HEADER_TIMEOUT"


@functools.lru_cache(maxsize=1)
def worker_header_timeout() -> float:
    """The deadline the supervisor set (the default when there is none)."""
    return float(os.environ.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT)


class _FromEnvironment(HeaderDeadline):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = worker_header_timeout()


class WorkerH11Protocol(_FromEnvironment, H11Protocol):
    """uvicorn's h11 protocol with the header deadline of :data:`HEADER_TIMEOUT_ENV`."""


def worker_protocol(http: HttpImplementation, header_timeout: float) -> type[Any]:
    """The protocol class for ``uvicorn.run(..., workers=N, http=...)``, after putting
    ``header_timeout`` in the environment the workers inherit."""
    os.environ[HEADER_TIMEOUT_ENV] = repr(header_timeout)
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    if http == "httptools":
        from .serve_workers_httptools import WorkerHttpToolsProtocol

        return WorkerHttpToolsProtocol
    return WorkerH11Protocol


__all__ = ["HEADER_TIMEOUT_ENV", "WorkerH11Protocol", "worker_header_timeout", "worker_protocol"]
