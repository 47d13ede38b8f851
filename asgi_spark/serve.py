"""``asgi-spark serve``: the gateway under uvicorn, with ``/metrics``, the access log and
reloading the configuration on SIGHUP.

What ``serve`` adds to the mountable app (:func:`asgi_spark.create_app`):

* ``GET /metrics`` (Prometheus text) when ``prometheus-client`` is installed (the ``metrics``
  extra) and ``--no-metrics`` is not given.  Without the extra nothing of it is imported and the
  route does not exist.
* Logging: the gateway's messages on standard error in uvicorn's style, the access log
  (:mod:`asgi_spark.observe`) on standard output, one line per request; uvicorn's own access
  log is off so lines are not doubled.
* SIGHUP reloads the configuration file through :meth:`~asgi_spark.gateway.Gateway.reload`:
  requests in flight finish on the configuration they started with; an invalid file is
  refused with a logged reason and the running configuration stays.
* ``--workers N``: N worker processes (uvicorn's supervisor).  SIGHUP to the supervisor is
  passed on to every worker, each of which reloads as above (uvicorn's own SIGHUP handling,
  which restarts the workers, is replaced).  Each worker has its own metrics, and applies the
  header deadline through the protocol classes of :mod:`.serve_workers`.
* SIGTERM and SIGINT drain the gateway (:mod:`.drain_signals`, :mod:`.drain`) in each process,
  with ``--drain-delay``/``--drain-timeout`` over the configuration's ``drain`` block.

SIGHUP is blocked from the start of ``serve`` (worker processes inherit the block) until a
process's handler is installed, so a SIGHUP sent while a process is starting is delivered once
it is ready instead of ending it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import asdict, dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import DEFAULT_HOST, DEFAULT_LOG_LEVEL, DEFAULT_PORT, ConfigError, load_config
from .config.security import DEFAULT_HEADER_TIMEOUT
from .gateway import Gateway
from .observe import ACCESS_LOGGER
from .serve_protocol import header_timeout_protocol
from .serve_workers import worker_protocol

logger = logging.getLogger("asgi_spark")

#: How ``serve`` hands its options to worker processes.
OPTIONS_ENV: Final = "ASGI_SPARK_SERVE_OPTIONS"
_HUP: Final = getattr(signal, "SIGHUP", None)  # not on Windows


@dataclass(frozen=True)
class ServeOptions:
    config_path: str | None = None  # None: demo mode
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log_level: str = DEFAULT_LOG_LEVEL
    workers: int = 1
    metrics: bool = True
    access_log_format: str | None = None  # None: the configuration's
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int | None = None
    #: uvicorn's loop and HTTP implementation; "auto": uvloop and httptools when installed
    loop: str = "auto"
    http: str = "auto"
    #: override the configuration's ``drain`` block (None: the configuration's)
    drain_delay: float | None = None
    drain_timeout: float | None = None


def metrics_available() -> bool:
    """Whether the ``metrics`` extra (``prometheus-client``) is installed."""
    return importlib.util.find_spec("prometheus_client") is not None


class ServedApp:
    """The gateway as ``serve`` runs it: ``/metrics`` beside it, SIGHUP reloads."""

    def __init__(self, gateway: Gateway, *, config_path: str | None, metrics: bool) -> None:
        self.gateway = gateway
        self.config_path = config_path
        self.metrics_app: ASGIApp | None = _metrics_app(gateway) if metrics else None
        self._reloading = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":

            async def lifespan_send(message: Message) -> None:
                if message["type"] == "lifespan.startup.complete":
                    self._listen_for_sighup()
                await send(message)

            await self.gateway(scope, receive, lifespan_send)
        elif self.metrics_app is not None and scope.get("path") == "/metrics":
            await self.metrics_app(scope, receive, send)
        else:
            await self.gateway(scope, receive, send)

    def _listen_for_sighup(self) -> None:
        if _HUP is None or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(_HUP, lambda: loop.create_task(self.reload()))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {_HUP})

    async def reload(self) -> None:
        """Load the configuration file again and serve it; keep the old one if it is bad."""
        async with self._reloading:
            if self.config_path is None:
                logger.warning(
                    "SIGHUP received, but there is no configuration file to reload (demo mode)"
                )
                return
            logger.info("SIGHUP received: reloading the configuration from %s", self.config_path)
            try:
                await self.gateway.reload(load_config(self.config_path))
            except (ConfigError, OSError) as exc:
                logger.error(
                    "configuration not reloaded, the running one stays: %s", exc, exc_info=False
                )


def _metrics_app(gateway: Gateway) -> ASGIApp:
    from prometheus_client import (
        GC_COLLECTOR,
        PLATFORM_COLLECTOR,
        PROCESS_COLLECTOR,
        CollectorRegistry,
        make_asgi_app,
    )

    from .metrics import GatewayMetrics

    registry = CollectorRegistry()
    for collector in (GatewayMetrics(gateway), PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    app: ASGIApp = make_asgi_app(registry)
    return app


def build_app(options: ServeOptions) -> ServedApp:
    """The app of one ``serve`` process (a bad configuration raises :class:`ConfigError`)."""
    path = options.config_path
    gateway = Gateway(load_config(path) if path is not None else None)
    gateway.access_log.format = options.access_log_format
    gateway.signals.delay, gateway.signals.timeout = options.drain_delay, options.drain_timeout
    return ServedApp(gateway, config_path=path, metrics=options.metrics and metrics_available())


def worker_app() -> ServedApp:
    """The app factory of a worker process (``--workers N``): options from the supervisor."""
    return build_app(ServeOptions(**json.loads(os.environ[OPTIONS_ENV])))


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the gateway's messages (stderr) and its access log (stdout)."""
    number = "DEBUG" if level == "trace" else level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "message": {"format": "%(message)s"},
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "message",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "asgi_spark": {"handlers": ["default"], "level": number, "propagate": False},
            ACCESS_LOGGER: {"handlers": ["access"], "level": number, "propagate": False},
        },
    }


def run(options: ServeOptions) -> int:
    """Serve until SIGINT or SIGTERM; the exit status."""
    import uvicorn

    if _HUP is not None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {_HUP})  # until a handler is installed
    common: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "log_level": options.log_level,
        "log_config": log_config(options.log_level),
        "access_log": False,
        "lifespan": "on",
        # uvicorn counts the connection making the request too: N + 1 serves N at once
        "limit_concurrency": None
        if options.max_connections is None
        else options.max_connections + 1,
        "loop": options.loop,
    }
    if options.workers <= 1:
        app = build_app(options)
        http = header_timeout_protocol(options.header_timeout, http=options.http)  # type: ignore[arg-type]
        server = uvicorn.Server(uvicorn.Config(app, http=http, **common))
        server.run()
        return 0 if server.started else 1
    os.environ[OPTIONS_ENV] = json.dumps(asdict(options))
    http = worker_protocol(options.http, options.header_timeout)  # type: ignore[arg-type]
    if _HUP is not None:
        threading.Thread(target=_forward_sighup, name="sighup", daemon=True).start()
    uvicorn.run(
        "asgi_spark.serve:worker_app",
        factory=True,
        workers=options.workers,
        http=http,
        **common,
    )
    return 0


def _forward_sighup() -> None:
    """Supervisor: pass each SIGHUP on to every worker (each reloads its configuration)."""
    assert _HUP is not None
    while True:
        signal.sigwait({_HUP})
        workers = multiprocessing.active_children()
        logging.getLogger("uvicorn.error").info(
            "SIGHUP received: asking %d worker(s) to reload the configuration", len(workers)
        )
        for worker in workers:
            if worker.pid is not None:
                os.kill(worker.pid, _HUP)


__all__ = ["OPTIONS_ENV", "ServeOptions", "ServedApp", "build_app", "run", "worker_app"]
