"""Retries, fallbacks and concurrency limits end to end: the app in-process, the real simulator
upstream on loopback; attempts are counted at the simulator (request frames it received)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_spark import create_app
from asgi_spark.gateway import Gateway
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate
from tests.seams.fakes import Response, request

FAST_RETRY = {"enabled": True, "max_retries": 3, "initial_delay": 0.01, "max_delay": 0.05}


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


def chat(model: str = "m", *, stream: bool = False, text: str = "hi") -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


async def post(
    gateway: Gateway, body: dict[str, Any], response: Response | None = None
) -> Response:
    return await request(gateway, "POST", "/v1/chat/completions", body, response=response)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def last_error(r: Response) -> dict[str, Any]:
    if r.status != 200:
        body: dict[str, Any] = r.json()
        return body
    events = r.body.decode().strip().split("\n\n")
    body = json.loads(events[-1].removeprefix("data: "))
    return body


# --------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("stream", [False, True])
async def test_a_retryable_failure_is_retried_until_it_succeeds(
    sim: SparkSimulator, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    sim.faults = Faults(error_code=10110, times=2)  # service busy, twice
    gateway = create_app([spark_entry("m", sim.url, retry=FAST_RETRY)])
    async with gateway.lifespan():
        with caplog.at_level(logging.INFO, "asgi_spark"):
            r = await post(gateway, chat(stream=stream))
    assert r.status == 200
    assert len(sim.requests) == 3
    assert "retrying model=m attempt=2" in caplog.text
    assert "attempts=3" in caplog.text  # the Outcome counts them
    if not stream:
        validate("CreateChatCompletionResponse", r.json())


async def test_retries_end_with_the_last_failure(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10110)
    gateway = create_app([spark_entry("m", sim.url, retry={**FAST_RETRY, "max_retries": 2})])
    async with gateway.lifespan():
        r = await post(gateway, chat())
    assert r.status == 503 and r.json()["error"]["code"] == "upstream_unavailable"
    assert len(sim.requests) == 3


async def test_without_retry_enabled_there_is_one_attempt(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10110, times=1)
    gateway = create_app([spark_entry("m", sim.url)])
    async with gateway.lifespan():
        r = await post(gateway, chat())
    assert r.status == 503 and len(sim.requests) == 1


async def test_a_request_error_is_not_retried(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10003)
    gateway = create_app([spark_entry("m", sim.url, retry=FAST_RETRY)])
    async with gateway.lifespan():
        r = await post(gateway, chat())
    assert r.status == 400 and len(sim.requests) == 1


async def test_a_failure_after_the_first_byte_is_not_retried(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10110, error_after=2)
    gateway = create_app([spark_entry("m", sim.url, retry=FAST_RETRY)])
    async with gateway.lifespan():
        r = await post(gateway, chat(stream=True))
    assert r.status == 200 and b"[DONE]" not in r.body
    assert last_error(r)["error"]["code"] == "upstream_unavailable"
    assert len(sim.requests) == 1


async def test_an_unreachable_upstream_is_retried(sim: SparkSimulator) -> None:
    entry = spark_entry("m", f"ws://127.0.0.1:{closed_port()}", retry=FAST_RETRY)
    gateway = create_app([entry])
    async with gateway.lifespan():
        r = await post(gateway, chat())
    assert r.status == 503 and "cannot reach upstream" in r.json()["error"]["message"]


# ------------------------------------------------------------------------------- fallbacks


@pytest.mark.parametrize("stream", [False, True])
async def test_a_fallback_answers_and_is_named(sim: SparkSimulator, stream: bool) -> None:
    dead = spark_entry("primary", f"ws://127.0.0.1:{closed_port()}", fallbacks=["backup"])
    gateway = create_app([dead, spark_entry("backup", sim.url)])
    async with gateway.lifespan():
        r = await post(gateway, chat("primary", stream=stream))
    assert r.status == 200
    if stream:
        first = json.loads(r.body.decode().split("\n\n")[0].removeprefix("data: "))
        assert first["model"] == "backup"
    else:
        assert r.json()["model"] == "backup"


async def test_a_fallback_is_not_used_for_a_bad_request(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10003)
    gateway = create_app(
        [spark_entry("primary", sim.url, fallbacks=["backup"]), spark_entry("backup", sim.url)]
    )
    async with gateway.lifespan():
        r = await post(gateway, chat("primary"))
    assert r.status == 400 and len(sim.requests) == 1


# ---------------------------------------------------------------------- concurrency limits


async def _hold(
    gateway: Gateway, model: str, n: int
) -> list[tuple[asyncio.Task[Response], Response]]:
    """Start ``n`` streams that hang after their first frame; return once each has begun."""
    held = []
    for _ in range(n):
        response = Response()
        task = asyncio.ensure_future(post(gateway, chat(model, stream=True), response))
        await asyncio.wait_for(response.first_body.wait(), 5)
        held.append((task, response))
    return held


async def _release(held: list[tuple[asyncio.Task[Response], Response]]) -> None:
    for task, _ in held:
        task.cancel()
    await asyncio.gather(*(task for task, _ in held), return_exceptions=True)


async def test_past_max_concurrency_a_request_is_429_with_retry_after(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=1)
    gateway = create_app([spark_entry("m", sim.url, max_concurrency=2, queue_timeout=0)])
    async with gateway.lifespan():
        held = await _hold(gateway, "m", 2)
        assert sim.open_connections == 2
        refused = await post(gateway, chat())
        assert refused.status == 429
        validate("ErrorResponse", refused.json())
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert (
            "all 2 concurrent upstream sessions of 'm' are busy"
            in refused.json()["error"]["message"]
        )
        assert dict(refused.headers)[b"retry-after"] == b"1"
        assert sim.open_connections == 2  # the refused one never reached Spark
        await _release(held)
        sim.faults = Faults()
        again = await post(gateway, chat())
        assert again.status == 200


async def test_a_queued_request_gets_the_slot_that_frees_up(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=1)
    gateway = create_app([spark_entry("m", sim.url, max_concurrency=1, queue_timeout=5)])
    async with gateway.lifespan():
        held = await _hold(gateway, "m", 1)
        sim.faults = Faults()
        waiting = asyncio.ensure_future(post(gateway, chat()))
        await asyncio.sleep(0)
        assert not waiting.done()
        await _release(held)
        assert (await asyncio.wait_for(waiting, 5)).status == 200


async def test_a_bounded_queue_wait_ends_in_429(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=1)
    gateway = create_app([spark_entry("m", sim.url, max_concurrency=1, queue_timeout=0.05)])
    async with gateway.lifespan():
        held = await _hold(gateway, "m", 1)
        refused = await post(gateway, chat())
        assert refused.status == 429 and "waited 0.05 s" in refused.json()["error"]["message"]
        await _release(held)


async def test_a_limit_group_is_shared(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=1)
    gateway = create_app(
        [
            spark_entry("a", sim.url, limit_group="app", max_concurrency=1, queue_timeout=0),
            spark_entry("b", sim.url, limit_group="app", queue_timeout=0),
        ]
    )
    async with gateway.lifespan():
        held = await _hold(gateway, "a", 1)
        refused = await post(gateway, chat("b"))
        assert refused.status == 429 and "'app'" in refused.json()["error"]["message"]
        await _release(held)


async def test_a_full_model_falls_back_and_the_fallback_keeps_its_own_limit(
    sim: SparkSimulator,
) -> None:
    sim.faults = Faults(hang_after=1)
    gateway = create_app(
        [
            spark_entry("a", sim.url, max_concurrency=1, queue_timeout=0, fallbacks=["b"]),
            spark_entry("b", sim.url, max_concurrency=1, queue_timeout=0),
        ]
    )
    async with gateway.lifespan():
        held = await _hold(gateway, "a", 2)  # the second one is served by b
        assert sim.open_connections == 2
        refused = await post(gateway, chat("a"))
        assert refused.status == 429 and "'b'" in refused.json()["error"]["message"]
        await _release(held)
