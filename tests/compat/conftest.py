"""The compat suite: the real client frameworks against the gateway and the simulator, both
served on loopback by uvicorn in a thread (``tests/e2e/server.py``), offline by construction
(:mod:`.offline`).  It needs the ``compat`` (or ``compat-openai2``) extra and is not collected
by a plain ``python -m pytest``; run ``python -m pytest tests/compat``.

Each framework's module starts with ``pytest.importorskip``: the two extras hold different
frameworks (see ``pyproject.toml``), so in each venv the other's modules are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from . import offline

offline.install()

from asgi_spark import create_app  # noqa: E402
from asgi_spark.simulator import Faults  # noqa: E402
from tests.e2e.server import ServedGateway, spark_entry  # noqa: E402

#: The models the suite talks to: Spark Max (function calling), Lite (none), X1 (reasoning).
MODEL = "spark-max"


def _config(simulator_url: str) -> list[dict[str, Any]]:
    return [
        spark_entry("spark-max", simulator_url),
        spark_entry("spark-lite", simulator_url, config={"api_version": "v1.1"}),
        spark_entry("spark-x1", simulator_url, config={"api_version": "x1"}),
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.compat)


@pytest.fixture(scope="session")
def served() -> Iterator[ServedGateway]:
    server = ServedGateway(lambda url: create_app(_config(url))).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(served: ServedGateway) -> Iterator[ServedGateway]:
    """The shared gateway; every test must leave no upstream connection open."""
    assert served.simulator is not None
    served.simulator.faults = Faults()
    yield served
    served.wait_upstream_closed()


@pytest.fixture
def base_url(gateway: ServedGateway) -> str:
    """What a client's ``base_url`` is: the gateway's ``/v1``."""
    return gateway.base_url + "/v1"
