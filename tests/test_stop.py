"""``stop`` emulated on the event stream: the scanner (property-tested against a plain
reference) and the policy end to end through the gateway and the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_spark import create_app
from asgi_spark.errors import InvalidRequestError
from asgi_spark.policies.stop import StopScanner, stop_sequences
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate
from tests.seams.fakes import request

alphabet = st.sampled_from("abc\n：星")


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=8),
    stops=st.lists(st.text(alphabet, min_size=1, max_size=4), min_size=1, max_size=4),
)
def test_the_scanner_cuts_where_a_plain_search_would(
    text: str, cuts: list[int], stops: list[str]
) -> None:
    found = [(i + len(s), i) for s in stops if (i := text.find(s)) >= 0]
    expected = text[: min(found)[1]] if found else text  # the first stop to be completed
    scanner = StopScanner(tuple(stops))
    shown, reached, start = "", False, 0
    for end in [*sorted(set(cuts)), len(text)]:
        piece, start = text[start : max(start, end)], max(start, end)
        out, reached = scanner.feed(piece)
        shown += out
        if reached:
            break
    if not reached:
        shown += scanner.flush()
    assert shown == expected
    assert reached == bool(found)


def test_only_what_a_match_could_still_need_is_held_back() -> None:
    scanner = StopScanner(("Observation:",))
    assert scanner.feed("Thought: I know. Obs") == ("Thought: I know. ", False)
    assert scanner.feed("erva") == ("", False)
    assert scanner.feed("tion: 42") == ("", True)


@pytest.mark.parametrize(
    ("stop", "message"),
    [(["a", "b", "c", "d", "e"], "at most 4"), ("", "must not be empty"), (["x", ""], "empty")],
)
def test_bad_stop_values_are_400s(stop: Any, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        stop_sequences(stop)
    assert info.value.param == "stop"


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


ANSWER = "Thought: I will look it up. Observation: the tool said 42. Final answer: 42"


@pytest.mark.parametrize("stream", [False, True])
async def test_the_answer_is_cut_at_the_stop_and_upstream_closed_at_once(
    sim: SparkSimulator, stream: bool
) -> None:
    # the answer comes in 12 frames and then the upstream hangs: only an early close ends it
    sim.faults = Faults(answer=ANSWER, chunks=12, hang_after=11)
    gateway = create_app([spark_entry("m", sim.url, timeouts={"idle": 30})])
    body = {
        "model": "m",
        "stream": stream,
        "stop": ["Observation:", "Calling tools:"],
        "messages": [{"role": "user", "content": "what is it?"}],
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    async with gateway.lifespan():
        r = await asyncio.wait_for(request(gateway, "POST", "/v1/chat/completions", body), 10)
    assert r.status == 200
    if stream:
        events = [e.removeprefix("data: ") for e in r.body.decode().strip().split("\n\n")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        for chunk in chunks:
            validate("CreateChatCompletionStreamResponse", chunk)
        *answer, usage_chunk = chunks
        assert usage_chunk["choices"] == []
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in answer)
        finish = answer[-1]["choices"][0]["finish_reason"]
        usage = usage_chunk["usage"]
    else:
        validate("CreateChatCompletionResponse", r.json())
        text = r.json()["choices"][0]["message"]["content"]
        finish = r.json()["choices"][0]["finish_reason"]
        usage = r.json()["usage"]
    assert text == "Thought: I will look it up. "
    assert finish == "stop"
    # Spark's final frame (its usage) never came: the gateway's estimate, "what is it?" and
    # "Thought: I will look it up." counted as word runs and marks
    assert usage == {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}
    assert "stop" not in sim.requests[-1]["parameter"]["chat"]
    await asyncio.wait_for(sim.wait_closed_all(), 5)


async def test_an_answer_without_the_stop_is_whole(sim: SparkSimulator) -> None:
    sim.faults = Faults(answer="no marker here", chunks=3)
    gateway = create_app([spark_entry("m", sim.url)])
    body = {"model": "m", "stop": "Observation:", "messages": [{"role": "user", "content": "x"}]}
    async with gateway.lifespan():
        r = await request(gateway, "POST", "/v1/chat/completions", body)
    assert r.json()["choices"][0]["message"]["content"] == "no marker here"
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    assert r.json()["usage"]["total_tokens"] > 0  # Spark's final frame arrived
