"""SIGTERM and SIGINT drain the gateway when uvicorn runs it as its application.

uvicorn's :class:`uvicorn.Server` installs its own SIGINT/SIGTERM handler
(``Server.handle_exit``, through ``signal.signal``) before it runs the application's lifespan,
and restores the previous handlers when it ends.  On that signal it shuts down at once: it
stops listening, closes idle connections, waits for the others (up to
``timeout_graceful_shutdown``, forever by default) and runs the lifespan's shutdown.

:class:`SignalDrain` builds on that rather than replacing it.  Once the gateway's lifespan has
started, and only in the main thread of a process whose SIGTERM handler is a uvicorn
``Server``'s (``asgi-spark serve``, each ``--workers`` process, ``uvicorn asgi_spark:app``,
gunicorn's uvicorn worker), it puts its own handler in front:

1. the first SIGTERM or SIGINT starts :meth:`~asgi_spark.gateway.Gateway.drain` (``/readyz``
   503 at once, the delay with the server still listening);
2. after the delay the drain calls back here and uvicorn is told to shut down exactly as its
   own handler would (``should_exit``); uvicorn then stops listening and waits for the
   connections, while the drain lets requests finish within its timeout and ends the rest.
   If uvicorn has no ``timeout_graceful_shutdown`` it gets one a little longer than the
   drain's, so a client that stops reading cannot hold the process for ever;
3. SIGTERM again changes nothing (a supervisor passing it on); a second SIGINT (Ctrl-C again)
   ends the requests in flight now, a third makes uvicorn quit without waiting.

Since the signal never reaches uvicorn's handler, uvicorn does not raise it again after
shutting down: the process exits with status 0 after a drain.  In any other setting (a
mounted gateway, another server, a thread) nothing is installed: call ``drain()`` yourself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Protocol

from .drain import ENDING_GRACE

logger = logging.getLogger("asgi_spark")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Drainable(Protocol):
    def drain(
        self,
        delay: float | None = None,
        timeout: float | None = None,
        *,
        reason: str = ...,
        stop_listening: Callable[[float], object] | None = None,
    ) -> Awaitable[None]: ...

    def hurry(self) -> None: ...


class SignalDrain:
    """SIGTERM/SIGINT → the gateway's drain → uvicorn's shutdown.  ``delay`` and ``timeout``
    override the configuration's ``drain`` block (``serve --drain-delay/--drain-timeout``)."""

    def __init__(self, gateway: Drainable) -> None:
        self.gateway = gateway
        self.delay: float | None = None
        self.timeout: float | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._interrupts = 0

    @property
    def installed(self) -> bool:
        return self._server is not None

    def install(self) -> bool:
        """Put the drain in front of uvicorn's handler, if uvicorn runs this process's app
        (see the module's docstring); whether it did."""
        if threading.current_thread() is not threading.main_thread():
            return False
        server = uvicorn_server()
        if server is None:
            return False
        self._server, self._loop = server, asyncio.get_running_loop()
        for signum in _SIGNALS:
            signal.signal(signum, self._handle)
        return True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler (between two bytecodes of the main thread): over to the loop."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone already
            self._loop.call_soon_threadsafe(self._received, signum)

    def _received(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain(name))
        elif signum == signal.SIGINT:
            self._interrupts += 1
            if self._interrupts == 1:
                logger.warning("%s again: ending the requests in flight now", name)
                self.gateway.hurry()
            else:
                logger.warning("%s again: quitting without waiting", name)
                self._server.should_exit = self._server.force_exit = True
        else:
            logger.info("%s received: the gateway is draining already", name)

    async def _drain(self, name: str) -> None:
        try:
            await self.gateway.drain(
                self.delay, self.timeout, reason=f"{name} received", stop_listening=self._stop
            )
        except Exception:
            logger.exception("draining failed; shutting down")
        finally:
            self._server.should_exit = True

    def _stop(self, timeout: float) -> None:
        """Tell uvicorn to shut down (stop listening, wait for the connections)."""
        config = self._server.config
        if config.timeout_graceful_shutdown is None:
            config.timeout_graceful_shutdown = math.ceil(timeout + ENDING_GRACE) + 1
        self._server.should_exit = True


def uvicorn_server() -> Any:
    """The :class:`uvicorn.Server` whose handler SIGTERM has now, or ``None``."""
    from uvicorn.server import Server

    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return server if isinstance(server, Server) else None


__all__ = ["Drainable", "SignalDrain", "uvicorn_server"]
