"""``n`` > 1 end to end: n concurrent Spark sessions, choices 0..n-1 in both shapes, streams
interleaved, usage summed, a failure of one fails all and closes the others, slots at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_spark import create_app
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate
from tests.seams.fakes import Response, request


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


def chat(n: int, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "n": n,
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
        "messages": [{"role": "user", "content": "讲个笑话"}],
        **extra,
    }


async def _post(sim: SparkSimulator, body: dict[str, Any], **entry: Any) -> Response:
    gateway = create_app([spark_entry("m", sim.url, **entry)])
    async with gateway.lifespan():
        return await request(gateway, "POST", "/v1/chat/completions", body)


async def test_n_choices_without_streaming(sim: SparkSimulator) -> None:
    one = (await _post(sim, chat(1))).json()
    r = await _post(sim, chat(3))
    assert r.status == 200
    body = r.json()
    validate("CreateChatCompletionResponse", body)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in body["choices"]} == {
        one["choices"][0]["message"]["content"]
    }
    assert body["usage"]["total_tokens"] == 3 * one["usage"]["total_tokens"]
    assert len(sim.requests) == 4  # 1 + 3 sessions
    await asyncio.wait_for(sim.wait_closed_all(), 5)


async def test_n_choices_streamed_interleave(sim: SparkSimulator) -> None:
    sim.faults = Faults(chunks=4)
    r = await _post(sim, chat(2, stream=True))
    events = [e.removeprefix("data: ") for e in r.body.decode().strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    texts = {0: "", 1: ""}
    finishes = {}
    roles = []
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
        if choice["delta"].get("role"):
            roles.append(choice["index"])
        if choice["finish_reason"]:
            finishes[choice["index"]] = choice["finish_reason"]
    assert sorted(roles) == [0, 1] and finishes == {0: "stop", 1: "stop"}
    assert texts[0] == texts[1] and texts[0]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failure_of_one_fails_the_request_and_closes_the_others(
    sim: SparkSimulator, stream: bool
) -> None:
    sim.faults = Faults(error_code=10013, times=1)  # the first session is refused
    r = await _post(sim, chat(3, stream=stream))
    if r.status == 200:  # another choice had already begun the stream
        assert b"content_filter" in r.body and b"[DONE]" not in r.body
    else:
        assert r.status == 400 and r.json()["error"]["code"] == "content_filter"
    await asyncio.wait_for(sim.wait_closed_all(), 5)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"n": 5}, "more than this model allows (4"),
        ({"n": 0}, "at least 1"),
        ({"stop": "x"}, "cannot be combined with 'stop'"),
        ({"response_format": {"type": "json_object"}}, "'response_format'"),
    ],
)
async def test_bad_n_is_a_400_naming_it(
    sim: SparkSimulator, extra: dict[str, Any], needle: str
) -> None:
    r = await _post(sim, {**chat(2), **extra})
    assert r.status == 400, r.body
    assert r.json()["error"]["param"] == "n" and needle in r.json()["error"]["message"]
    assert sim.requests == []


async def test_max_n_is_per_model(sim: SparkSimulator) -> None:
    assert (await _post(sim, chat(6), max_n=6)).status == 200


async def test_the_sessions_take_their_slots_at_once_or_not_at_all(sim: SparkSimulator) -> None:
    r = await _post(sim, chat(3), max_concurrency=2, queue_timeout=0)
    assert r.status == 429
    assert (
        "needs 3 concurrent upstream sessions of 'm', which allows 2"
        in r.json()["error"]["message"]
    )
    assert sim.requests == []
    assert (await _post(sim, chat(2), max_concurrency=2, queue_timeout=0)).status == 200
