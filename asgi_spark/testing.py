"""A pytest plug-in to test your own code against Spark failures, offline.

Installed with asgi_spark and loaded by pytest through the ``pytest11`` entry point, so every
pytest run of an environment that has asgi_spark has these fixtures; the plug-in itself imports
only the standard library and pytest (the servers are imported when a fixture is first used).

Fixtures (plain, synchronous; the servers run on a background thread with their own event loop,
so sync and async test code alike can call them):

``spark_simulator`` (function scope; the server is shared by the whole session)
    A running Spark simulator (:class:`SimulatorHandle`): ``url`` and ``url_for(version)``,
    the credentials ``app_id``, ``api_key``, ``api_secret``, ``entry(...)`` for a model entry
    that points at it, and ``faults``, the :class:`Faults` every following connection gets
    (``set_faults(...)`` is the same).  Faults are reset before and after each test.

``spark_gateway`` (function scope; the server is shared by the whole session)
    The gateway served by uvicorn in front of that simulator (:class:`GatewayHandle`):
    ``base_url`` is the ``/v1`` URL for the ``openai`` SDK, ``models`` the model ids it serves.

``spark_models`` (session scope)
    The gateway's models: a mapping of model id to a Spark ``api_version``, or to a dict of
    entry fields (``{"api_version": "x1", "timeout": 5, "retry": {...}}``).  Override it in your
    ``conftest.py`` to serve the ids your application uses.

:func:`directive` writes a prompt directive (``[spark:error_code=10014]``): put it in the last
user message to inject a fault into that one request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from .background import BackgroundLoop
    from .gateway import Gateway
    from .simulator import Faults, SparkSimulator

APP_ID: Final = "testing-app"
API_KEY: Final = "testing-key"
API_SECRET: Final = "testing-secret"  # the simulator's, not a real one
#: The default ``spark_models``: one model id per Spark version.
DEFAULT_MODELS: Final[Mapping[str, str]] = {
    "spark-lite": "v1.1",
    "spark-pro": "v3.1",
    "spark-pro-128k": "pro-128k",
    "spark-max": "v3.5",
    "spark-max-32k": "max-32k",
    "spark-ultra": "v4.0",
    "spark-x1": "x1",
    "spark-image": "image",
}


def directive(**faults: Any) -> str:
    """``[spark:key=value,...]`` for the given fault fields (checked like :class:`Faults`);
    fields that act before the prompt is read (``handshake_status``, ``times``, ...) cannot be
    directives: set ``spark_simulator.faults`` instead."""
    from .simulator.faults import CONNECTION_FIELDS, Faults

    Faults(**faults)  # the same checks, the same errors
    early = sorted(set(faults) & set(CONNECTION_FIELDS))
    if early:
        raise ValueError(f"{', '.join(early)} cannot be a prompt directive; set faults instead")
    parts = []
    for key, value in faults.items():
        text = str(int(value) if isinstance(value, bool) else value)
        if any(ch in text for ch in ',]"\\') or text != text.strip():
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return f"[spark:{','.join(parts)}]"


class SimulatorHandle:
    """The running simulator, as the ``spark_simulator`` fixture gives it."""

    app_id: Final = APP_ID
    api_key: Final = API_KEY
    api_secret: Final = API_SECRET

    def __init__(self, simulator: SparkSimulator, loop: BackgroundLoop) -> None:
        self.simulator = simulator
        self._loop = loop

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``, the ``base_url`` of a model entry."""
        return self.simulator.url

    def url_for(self, version: str = "v3.5") -> str:
        """The full WebSocket URL of a version's endpoint (``.../v3.5/chat``)."""
        return self.simulator.url_for(version)

    @property
    def faults(self) -> Faults:
        return self.simulator.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Every following connection gets ``faults`` (``Faults(times=N, ...)``: the next N)."""
        self.simulator.faults = faults

    def set_faults(self, **fields: Any) -> None:
        """``faults = Faults(**fields)``; no argument clears them."""
        from .simulator import Faults

        self.simulator.faults = Faults(**fields)

    def entry(self, model_id: str, api_version: str = "v3.5", **fields: Any) -> dict[str, Any]:
        """A model entry (the configuration's format) served by this simulator."""
        config = {"app_id": APP_ID, "api_secret": API_SECRET, "api_version": api_version}
        config.update(fields.pop("config", {}))
        return {
            "id": model_id,
            "adapter": "websocket_xunfei",
            "base_url": self.url,
            "api_key": API_KEY,
            "config": config,
            **fields,
        }

    @property
    def open_connections(self) -> int:
        return self.simulator.open_connections

    def wait_closed(self, timeout: float = 10) -> None:
        """Return once no connection is open (``TimeoutError`` after ``timeout`` seconds)."""
        self._loop.call(self.simulator.wait_closed_all, timeout=timeout)


class GatewayHandle:
    """The running gateway, as the ``spark_gateway`` fixture gives it."""

    def __init__(self, gateway: Gateway, url: str) -> None:
        self.gateway = gateway
        #: ``http://127.0.0.1:PORT``
        self.url = url
        #: ``http://127.0.0.1:PORT/v1``: the ``base_url`` of the ``openai`` SDK.
        self.base_url = url + "/v1"

    @property
    def models(self) -> list[str]:
        return list(self.gateway.models)


def _entries(simulator: SimulatorHandle, models: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for model_id, spec in models.items():
        fields = dict(spec) if isinstance(spec, Mapping) else {"api_version": spec}
        version = fields.pop("api_version", "v3.5")
        entries.append(simulator.entry(model_id, version, **fields))
    return entries


@pytest.fixture(scope="session")
def _asgi_spark_loop() -> Iterator[BackgroundLoop]:
    from .background import BackgroundLoop

    loop = BackgroundLoop("asgi-spark-testing")
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def _asgi_spark_simulator(_asgi_spark_loop: BackgroundLoop) -> Iterator[SimulatorHandle]:
    from .simulator import SparkSimulator

    sim = SparkSimulator(
        app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET, port=0, record_requests=False
    )
    _asgi_spark_loop.call(sim.start)
    yield SimulatorHandle(sim, _asgi_spark_loop)
    _asgi_spark_loop.call(sim.stop)


@pytest.fixture(scope="session")
def spark_models() -> Mapping[str, Any]:
    """The models ``spark_gateway`` serves (override it in your conftest.py)."""
    return DEFAULT_MODELS


@pytest.fixture
def spark_simulator(_asgi_spark_simulator: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The session's Spark simulator, with no faults at the start and the end of the test."""
    _asgi_spark_simulator.set_faults()
    yield _asgi_spark_simulator
    _asgi_spark_simulator.set_faults()


@pytest.fixture(scope="session")
def _asgi_spark_gateway(
    _asgi_spark_loop: BackgroundLoop,
    _asgi_spark_simulator: SimulatorHandle,
    spark_models: Mapping[str, Any],
) -> Iterator[GatewayHandle]:
    from .background import BackgroundServer
    from .gateway import create_app

    gateway = create_app(_entries(_asgi_spark_simulator, spark_models))
    server = BackgroundServer(gateway, _asgi_spark_loop).start()
    yield GatewayHandle(gateway, server.url)
    server.stop()


@pytest.fixture
def spark_gateway(
    _asgi_spark_gateway: GatewayHandle, spark_simulator: SimulatorHandle
) -> GatewayHandle:
    """The session's gateway in front of ``spark_simulator`` (its faults reset per test)."""
    return _asgi_spark_gateway


def __getattr__(name: str) -> Any:
    if name == "Faults":
        from .simulator import Faults

        return Faults
    raise AttributeError(f"module 'asgi_spark.testing' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODELS",
    "Faults",
    "GatewayHandle",
    "SimulatorHandle",
    "directive",
    "spark_gateway",
    "spark_models",
    "spark_simulator",
]
