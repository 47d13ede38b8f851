"""End-to-end fixtures: uvicorn serving the gateway over loopback, the simulator as upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from asgi_spark import create_app
from asgi_spark.simulator import Faults

from .server import ServedGateway, spark_entry


def gateway_config(simulator_url: str) -> list[dict[str, Any]]:
    return [
        spark_entry("spark-max", simulator_url),
        spark_entry("spark-lite", simulator_url, config={"api_version": "v1.1"}),
        spark_entry("spark-x1", simulator_url, config={"api_version": "x1"}),
        spark_entry("spark-quick-timeout", simulator_url, timeout=0.5),
        spark_entry("spark-image", simulator_url, config={"api_version": "image"}),
    ]


@pytest.fixture(scope="session")
def served() -> Iterator[ServedGateway]:
    server = ServedGateway(lambda url: create_app(gateway_config(url))).start()
    yield server
    server.stop()


@pytest.fixture
def gateway(served: ServedGateway) -> Iterator[ServedGateway]:
    """The shared gateway, with the simulator's Python-level faults reset around each test."""
    assert served.simulator is not None
    served.simulator.faults = Faults()
    yield served
    served.simulator.faults = Faults()
    served.wait_upstream_closed()


@pytest.fixture
def client(gateway: ServedGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: ServedGateway) -> Any:
    async with openai.AsyncOpenAI(
        base_url=gateway.base_url + "/v1", api_key="unused", max_retries=0
    ) as c:
        yield c
