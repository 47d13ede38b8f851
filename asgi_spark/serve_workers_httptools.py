"""The httptools twin of :class:`~asgi_spark.serve_workers.WorkerH11Protocol`, in a module of
its own because importing it needs ``httptools`` (the ``fast`` extra)."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .worker_deadline import FromEnvironment


class WorkerHttpToolsProtocol(FromEnvironment, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline of the workers' environment."""


__all__ = ["WorkerHttpToolsProtocol"]
