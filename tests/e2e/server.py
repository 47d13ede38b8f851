"""A gateway and a Spark simulator served together on loopback, in a thread of their own.

The thread runs one event loop with the simulator and uvicorn, so tests can use both the
synchronous and the asynchronous ``openai`` clients.  The listening socket is bound and
listening before uvicorn starts, so clients can connect at once; start-up is signalled with a
``threading.Event``, never with sleeps.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import uvicorn

from asgi_spark.simulator import SparkSimulator

T = TypeVar("T")

APP_ID = "e2e-app-id"
API_KEY = "e2e-api-key-0123456789"
API_SECRET = "e2e-api-secret-ABCDEFGHIJ"


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def spark_entry(model_id: str, simulator_url: str, **overrides: Any) -> dict[str, Any]:
    config = {"app_id": APP_ID, "api_secret": API_SECRET, "api_version": "v3.5"}
    config.update(overrides.pop("config", {}))
    entry: dict[str, Any] = {
        "id": model_id,
        "adapter": "websocket",
        "request_format": "xunfei",
        "base_url": simulator_url,
        "api_key": API_KEY,
        "config": config,
    }
    entry.update(overrides)
    return entry


class ServedGateway:
    """Simulator + gateway in a background thread.

    ``make_app(simulator_url)`` builds the ASGI app; ``server_config(app)``, when given, the
    ``uvicorn.Config`` to serve it with (e.g. ``asgi-spark serve``'s).
    """

    def __init__(
        self,
        make_app: Callable[[str], Any],
        *,
        simulator_kwargs: dict[str, Any] | None = None,
        server_config: Callable[[Any], uvicorn.Config] | None = None,
    ) -> None:
        self._make_app = make_app
        self._simulator_kwargs = simulator_kwargs or {}
        self._server_config = server_config
        self._sock = listening_socket()
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="e2e-gateway", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.simulator: SparkSimulator | None = None
        self.app: Any = None
        self._server: uvicorn.Server | None = None

    def start(self) -> ServedGateway:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the e2e gateway did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            self.simulator = SparkSimulator(
                app_id=APP_ID,
                api_key=API_KEY,
                api_secret=API_SECRET,
                host="127.0.0.1",
                port=0,
                **self._simulator_kwargs,
            )
            await self.simulator.start()
            self.app = self._make_app(self.simulator.url)
            if self._server_config is not None:
                config = self._server_config(self.app)
            else:
                config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
            self._server = uvicorn.Server(config)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            raise
        self._ready.set()
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            await self.simulator.stop()

    def call(self, coro_factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10) -> T:
        """Run a coroutine in the server's loop and wait for its result."""
        assert self.loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro_factory(), self.loop)
        return future.result(timeout=timeout)

    def wait_upstream_closed(self, timeout: float = 10) -> None:
        """Return once the simulator has no open connection (fails the test after ``timeout``)."""
        assert self.simulator is not None
        sim = self.simulator
        self.call(sim.wait_closed_all, timeout=timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
