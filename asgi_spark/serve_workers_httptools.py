"""The httptools twin of :class:`~asgi_spark.serve_workers.WorkerH11Protocol`, in a module of
its own because importing it needs ``httptools`` (the ``fast`` extra)."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .serve_workers import _FromEnvironment


class WorkerHttpToolsProtocol(_FromEnvironment, HttpToolsProtocol):
    """uvicorn's httptools protocol with the header deadline of the workers' environment."""


__all__ = ["WorkerHttpToolsProtocol"]
