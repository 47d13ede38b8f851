"""The limits through the gateway (in-process app, the simulator upstream on loopback): the
client keys' ``requests_per_minute`` and ``tokens_per_minute``, a model's ``max_qps``, and
what clients get when the Redis store is unreachable.  Key and rate limits run on both
backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_spark import create_app
from asgi_spark.gateway import Gateway
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.limits.redis_server import prefix
from tests.openapi import validate
from tests.ops.process import free_port
from tests.seams.fakes import Response, request

KEY = "sk-client-0123456789"


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


@pytest.fixture(params=["memory", "redis"])
def limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    url = request.getfixturevalue("redis_url")
    return {"backend": "redis", "url": url, "key_prefix": prefix()}


def gateway(
    sim: SparkSimulator,
    limits: dict[str, Any],
    *,
    key: dict[str, Any] | None = None,
    **entry: Any,
) -> Gateway:
    config: dict[str, Any] = {"models": [spark_entry("m", sim.url, **entry)], "limits": limits}
    if key is not None:
        config["api_keys"] = [{"key": KEY, "name": "team-a", **key}]
    return create_app(config)


async def chat(
    app: Gateway, path: str = "/v1/chat/completions", *, stream: bool = False
) -> Response:
    body: dict[str, Any] = {
        "model": "m",
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if path == "/v1/responses":
        body = {"model": "m", "input": "hi"}
    auth = [(b"authorization", f"Bearer {KEY}".encode())]
    return await request(app, "POST", path, body, headers=auth)


def refused_with(r: Response, message: str) -> float:
    """Assert a 429 saying ``message``; its ``Retry-After`` in seconds."""
    assert r.status == 429, r.body
    validate("ErrorResponse", r.json())
    error = r.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert message in error["message"], error["message"]
    return float(dict(r.headers)[b"retry-after"])


async def test_requests_per_minute_of_a_key(sim: SparkSimulator, limits: dict[str, Any]) -> None:
    app = gateway(sim, limits, key={"requests_per_minute": 2})
    async with app.lifespan():
        assert (await chat(app)).status == 200
        assert (await chat(app, "/v1/responses")).status == 200  # every endpoint counts
        wait = refused_with(
            await chat(app),
            "the key 'team-a' made its 2 requests of the last minute (requests_per_minute)",
        )
        assert 55 <= wait <= 60
    assert len(sim.requests) == 2  # the refused one never reached Spark


async def test_tokens_per_minute_of_a_key(sim: SparkSimulator, limits: dict[str, Any]) -> None:
    app = gateway(sim, limits, key={"tokens_per_minute": 5})
    async with app.lifespan():
        first = await chat(app)
        assert first.status == 200 and first.json()["usage"]["total_tokens"] >= 5
        wait = refused_with(
            await chat(app),
            "the key 'team-a' used its 5 tokens of the last minute (tokens_per_minute)",
        )
        assert 58 <= wait <= 60
    assert len(sim.requests) == 1


async def test_a_stream_without_usage_for_the_client_still_counts_its_tokens(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    app = gateway(sim, limits, key={"tokens_per_minute": 5})
    async with app.lifespan():
        first = await chat(app, stream=True)  # no stream_options.include_usage
        assert first.status == 200 and b'"usage"' not in first.body
        refused_with(await chat(app, stream=True), "(tokens_per_minute)")


async def test_an_answer_cut_by_stop_counts_its_estimated_tokens(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    sim.faults = Faults(answer="one two three four five six. Observation: seven", chunks=3)
    app = gateway(sim, limits, key={"tokens_per_minute": 5})
    body = {"model": "m", "stop": "Observation:", "messages": [{"role": "user", "content": "go"}]}
    auth = [(b"authorization", f"Bearer {KEY}".encode())]
    async with app.lifespan():
        cut = await request(app, "POST", "/v1/chat/completions", body, headers=auth)
        assert cut.json()["usage"]["total_tokens"] == 8  # the estimate: 1 + 7
        refused_with(await chat(app), "(tokens_per_minute)")


async def test_a_key_without_limits_is_not_counted(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    app = gateway(sim, limits, key={})
    async with app.lifespan():
        for _ in range(3):
            assert (await chat(app)).status == 200


async def test_max_qps_lets_that_many_start_per_second(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    app = gateway(sim, limits, max_qps=2, queue_timeout=0)
    async with app.lifespan():
        answers = await asyncio.gather(*(chat(app) for _ in range(5)))
    assert sorted(r.status for r in answers) == [200, 200, 429, 429, 429]
    for r in answers:
        if r.status == 429:
            wait = refused_with(r, "'m' allows 2 upstream requests per second (max_qps)")
            assert 0 < wait <= 1
    assert len(sim.requests) == 2


async def test_max_qps_queues_within_queue_timeout(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    app = gateway(sim, limits, max_qps=1, queue_timeout=3)
    async with app.lifespan():
        loop = asyncio.get_running_loop()
        began = loop.time()
        answers = await asyncio.gather(*(chat(app) for _ in range(2)))
        assert [r.status for r in answers] == [200, 200]
        assert loop.time() - began >= 0.9  # the second waited for the first to leave the window


async def test_max_qps_is_shared_by_a_limit_group(sim: SparkSimulator) -> None:
    config = {
        "models": [
            spark_entry("a", sim.url, limit_group="app", max_qps=1, queue_timeout=0),
            spark_entry("b", sim.url, limit_group="app", queue_timeout=0),
        ]
    }
    app = create_app(config)
    body = {"messages": [{"role": "user", "content": "hi"}]}
    async with app.lifespan():
        a = await request(app, "POST", "/v1/chat/completions", {"model": "a", **body})
        b = await request(app, "POST", "/v1/chat/completions", {"model": "b", **body})
    assert (a.status, b.status) == (200, 429)
    refused_with(b, "'app' allows 1 upstream requests per second (max_qps)")


@pytest.mark.parametrize(("policy", "status"), [("fail_open", 200), ("fail_closed", 503)])
async def test_an_unreachable_store_applies_its_policy(
    sim: SparkSimulator, policy: str, status: int
) -> None:
    url = f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0"
    limits = {"backend": "redis", "url": url, "on_unavailable": policy}
    app = gateway(sim, limits, key={"requests_per_minute": 1}, max_concurrency=1, max_qps=1)
    async with app.lifespan():
        answers = [await chat(app) for _ in range(2)]
        ready = await request(app, "GET", "/readyz")
        assert app.runtime is not None
        gauges = {reading.name: reading.value for reading in app.runtime.readings()}
    assert [r.status for r in answers] == [status, status]
    assert gauges["limit_store_up"] == 0
    shown = ready.json()["limits"]
    assert shown == {"backend": "redis", "available": False, "on_unavailable": policy}
    if policy == "fail_open":
        assert ready.status == 200  # serving, without limits: the metrics and this say so
        assert len(sim.requests) == 2
        assert gauges["limit_store_bypassed"] > 0
    else:
        assert ready.status == 503
        error = answers[0].json()["error"]
        assert error["code"] == "limit_store_unavailable" and "pw-not-shown" not in error["message"]
        assert dict(answers[0].headers)[b"retry-after"] == b"1"
        assert sim.requests == []


async def test_readyz_shows_a_reachable_store(sim: SparkSimulator, redis_url: str) -> None:
    app = gateway(sim, {"backend": "redis", "url": redis_url})
    async with app.lifespan():
        ready = await request(app, "GET", "/readyz")
    assert ready.status == 200
    assert ready.json()["limits"] == {
        "backend": "redis",
        "available": True,
        "on_unavailable": "fail_open",
    }


async def test_slots_of_a_request_cut_short_come_back(
    sim: SparkSimulator, limits: dict[str, Any]
) -> None:
    sim.faults = Faults(error_after=1, error_code=10013)
    app = gateway(sim, limits, max_concurrency=1, queue_timeout=0)
    async with app.lifespan():
        for _ in range(3):
            assert (await chat(app)).status == 400  # content filter: a failure, slot released
        assert app.runtime is not None and app.runtime.limiter.in_use("m") == 0
