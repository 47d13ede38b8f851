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

import importlib.util
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .serve_protocol import HttpImplementation
from .worker_deadline import HEADER_TIMEOUT_ENV, FromEnvironment, worker_header_timeout


class WorkerH11Protocol(FromEnvironment, H11Protocol):
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
