"""Servers on a background thread: an event loop of their own, and uvicorn serving an ASGI app
on a loopback port, ready when :meth:`BackgroundServer.start` returns.

Used by the testing kit (:mod:`asgi_spark.testing`) and by ``asgi-spark ask`` without
``--base-url`` (the demo in-process).  Start-up waits for the app's lifespan to report, never
for a fixed time; a failed start-up raises with the app's reason.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Final, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

START_TIMEOUT: Final = 30.0


class BackgroundLoop:
    """An event loop on a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self, name: str = "asgi-spark") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(factory(), self.loop)
        return future.result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=START_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


class BackgroundServer:
    """uvicorn serving ``app`` on ``127.0.0.1`` (a free port) in ``loop``."""

    def __init__(self, app: ASGIApp, loop: BackgroundLoop, *, log_level: str = "warning") -> None:
        self.app = app
        self._loop = loop
        self._log_level = log_level
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        #: ``http://127.0.0.1:PORT``
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> BackgroundServer:
        """Serve; return once the app's start-up is complete (``RuntimeError`` if it failed)."""
        self._loop.call(self._start, timeout=START_TIMEOUT)
        return self

    async def _start(self) -> None:
        import uvicorn

        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        app = self.app

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            async def watch(message: Message) -> None:
                if message["type"].startswith("lifespan.startup") and not started.done():
                    started.set_result(str(message.get("message", "")))
                await send(message)

            await app(scope, receive, watch if scope["type"] == "lifespan" else send)

        config = uvicorn.Config(watched, log_level=self._log_level, lifespan="on")
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._sock])
        )
        waiting: list[asyncio.Future[Any]] = [started, self._task]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done() or started.result():
            reason = started.result() if started.done() else "the server stopped"
            raise RuntimeError(f"the server did not start: {reason}")

    def stop(self) -> None:
        """Shut down (the app's lifespan ends) and close the socket."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            task = self._task

            async def finished() -> None:
                await asyncio.wait_for(task, START_TIMEOUT)

            self._loop.call(finished, timeout=START_TIMEOUT + 5)
        self._sock.close()


__all__ = ["BackgroundLoop", "BackgroundServer"]
