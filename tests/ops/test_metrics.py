"""The metrics a host registers (``GatewayMetrics``), fed by requests through a real server:
retries, fallbacks, limit rejections, slots in use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asgi_spark import create_app
from asgi_spark.metrics import GatewayMetrics
from asgi_spark.outcome import Outcome
from asgi_spark.simulator import Faults
from asgi_spark.testing import directive
from tests.e2e.server import ServedGateway, spark_entry


class Scraped:
    def __init__(self, registry: CollectorRegistry) -> None:
        text = generate_latest(registry).decode()
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServedGateway, CollectorRegistry, Outcomes]]:
    registry = CollectorRegistry()
    outcomes = Outcomes()

    def make(url: str) -> Any:
        gateway = create_app(
            [
                spark_entry(
                    "flaky", url, retry={"enabled": True, "max_retries": 2, "initial_delay": 0}
                ),
                spark_entry("primary", url, fallbacks=["backup"]),
                spark_entry("backup", url),
                spark_entry("limited", url, max_concurrency=1, queue_timeout=0),
            ]
        )
        registry.register(GatewayMetrics(gateway))
        gateway.observers.append(outcomes)
        return gateway

    server = ServedGateway(make).start()
    yield server, registry, outcomes
    server.stop()


@pytest.fixture
def client(served: tuple[ServedGateway, CollectorRegistry, Outcomes]) -> Iterator[openai.OpenAI]:
    server = served[0]
    assert server.simulator is not None
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as c:
        yield c
    server.simulator.faults = Faults()
    server.wait_upstream_closed()


def _ask(client: openai.OpenAI, model: str, text: str = "hi") -> Any:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}])


class Outcomes:
    """An observer that lets a test wait until the gateway has observed n requests."""

    def __init__(self) -> None:
        self.seen: list[Outcome] = []
        self._changed = threading.Condition()

    def __call__(self, outcome: Outcome) -> None:
        with self._changed:
            self.seen.append(outcome)
            self._changed.notify_all()

    def wait(self, n: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.seen) >= n, timeout=10), self.seen


def test_retries_fallbacks_and_limit_rejections_are_counted(
    served: tuple[ServedGateway, CollectorRegistry, Outcomes], client: openai.OpenAI
) -> None:
    server, registry, outcomes = served
    outcomes.seen.clear()
    assert server.simulator is not None
    server.simulator.faults = Faults(error_code=10110, times=1)
    _ask(client, "flaky")
    server.simulator.faults = Faults(error_code=10110, times=1)
    assert _ask(client, "primary").model == "backup"
    outcomes.wait(2)
    scraped = Scraped(registry)
    assert scraped("asgi_spark_retries_total", model="flaky") == 1
    assert scraped("asgi_spark_fallbacks_total", model="primary") == 1
    assert (
        scraped(
            "asgi_spark_upstream_errors_total", model="flaky", code="10110", phase="before_answer"
        )
        == 0
    )

    stream = client.chat.completions.create(
        model="limited",
        messages=[{"role": "user", "content": "hi " + directive(hang_after=1)}],
        stream=True,
    )
    next(iter(stream))
    held = Scraped(registry)
    assert held("asgi_spark_limit_slots", limit="limited") == 1
    assert held("asgi_spark_limit_slots_in_use", limit="limited") == 1
    assert held("asgi_spark_open_streams") == 1
    with pytest.raises(openai.RateLimitError):
        _ask(client, "limited")
    stream.close()
    outcomes.wait(4)
    assert Scraped(registry)("asgi_spark_limit_rejections_total", model="limited") == 1
