"""Legacy Completions through the official ``openai`` SDK (and raw HTTP for the exact bytes),
uvicorn serving the gateway, the simulator upstream."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import httpx
import openai
import pytest

from tests.openapi import errors, load, sse_data, validate

from .server import ServedGateway


def raw(gateway: ServedGateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.base_url + "/v1/completions", json=body, timeout=10)


def validate_chunk(chunk: dict[str, Any]) -> None:
    """A stream chunk is a ``CreateCompletionResponse`` whose ``finish_reason`` is ``null``
    until the last one: the document has no chunk schema of its own for legacy completions,
    and its ``finish_reason`` is not nullable, so that one field is checked here."""
    if chunk["choices"] and chunk["choices"][0]["finish_reason"] is None:
        chunk = copy.deepcopy(chunk)
        chunk["choices"][0]["finish_reason"] = "stop"
    validate("CreateCompletionResponse", {k: v for k, v in chunk.items() if v is not None})


def test_create(gateway: ServedGateway, client: openai.OpenAI) -> None:
    r = raw(gateway, {"model": "spark-max", "prompt": "Say this is a test"})
    validate("CreateCompletionResponse", r.json())
    completion = client.completions.create(model="spark-max", prompt="Say this is a test")
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-cht")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.index == 0 and choice.logprobs is None
    assert "answering: Say this is a test" in choice.text
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    chat = client.chat.completions.create(
        model="spark-max", messages=[{"role": "user", "content": "Say this is a test"}]
    )
    assert choice.text == chat.choices[0].message.content, "the prompt is one user turn"


def test_prompt_as_a_list_of_one(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="spark-lite", prompt=["one prompt"])
    assert "one prompt" in completion.choices[0].text


def test_stream(gateway: ServedGateway, client: openai.OpenAI) -> None:
    body = {"model": "spark-max", "prompt": "stream me", "stream": True}
    payloads = sse_data(raw(gateway, body).text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        validate_chunk(chunk)
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[-1] == "stop" and set(reasons[:-1]) == {None}
    assert all("usage" not in c for c in chunks)
    whole = client.completions.create(model="spark-max", prompt="stream me")
    streamed = client.completions.create(model="spark-max", prompt="stream me", stream=True)
    assert "".join(c.choices[0].text for c in streamed) == whole.choices[0].text


def test_stream_include_usage(gateway: ServedGateway) -> None:
    body = {
        "model": "spark-max",
        "prompt": "usage please",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = [json.loads(p) for p in sse_data(raw(gateway, body).text)[:-1]]
    for chunk in chunks:
        validate_chunk(chunk)
    *content, last = chunks
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in content)


def test_max_tokens_finishes_with_length(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="spark-max", prompt="long", max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_stop(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="spark-max", prompt="cut me", stop=["simulator"])
    assert completion.choices[0].text == "This is the Spark "
    assert completion.choices[0].finish_reason == "stop"
    chunks = list(
        client.completions.create(model="spark-max", prompt="cut me", stop="simulator", stream=True)
    )
    assert "".join(c.choices[0].text for c in chunks) == "This is the Spark "


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"echo": True}, "echo"),
        ({"suffix": "and then"}, "suffix"),
        ({"best_of": 2}, "best_of"),
        ({"logprobs": 2}, "logprobs"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_refused_or_invalid_is_a_400(
    gateway: ServedGateway, body: dict[str, Any], param: str
) -> None:
    r = raw(gateway, {"model": "spark-max", "prompt": "x", **body})
    assert r.status_code == 400, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == param


def test_echo_false_is_accepted(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="spark-max", prompt="x", echo=False)
    assert completion.choices[0].text.startswith("This is the Spark simulator")


def test_failure_before_and_after_the_start(gateway: ServedGateway, client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.completions.create(model="spark-max", prompt="x [spark:error_code=11202]")
    body = {"model": "spark-max", "prompt": "x [spark:close_after=2]", "stream": True}
    payloads = sse_data(raw(gateway, body).text)
    assert "[DONE]" not in payloads
    last = json.loads(payloads[-1])
    validate("ErrorResponse", last)
    assert last["error"]["code"] == "upstream_closed"


def test_the_chunk_check_still_rejects_a_wrong_reason() -> None:
    load()
    bad = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "done"}],
    }
    assert errors("CreateCompletionResponse", bad)


def test_n_choices(gateway: ServedGateway, client: openai.OpenAI) -> None:
    completion = client.completions.create(model="spark-max", prompt="two answers", n=2)
    validate("CreateCompletionResponse", completion.model_dump(exclude_unset=True))
    assert [c.index for c in completion.choices] == [0, 1]
    assert all("answering: two answers" in c.text for c in completion.choices)
    body = {"model": "spark-max", "prompt": "two answers", "n": 2, "stream": True}
    chunks = [json.loads(p) for p in sse_data(raw(gateway, body).text)[:-1]]
    finished = {c["choices"][0]["index"] for c in chunks if c["choices"][0]["finish_reason"]}
    assert finished == {0, 1}


def test_outcomes_reach_the_observers(gateway: ServedGateway, client: openai.OpenAI) -> None:
    # Observers run on the server's thread once the response is sent: wait for them.
    seen: list[Any] = []
    arrived = threading.Condition()

    def observe(outcome: Any) -> None:
        with arrived:
            seen.append(outcome)
            arrived.notify_all()

    gateway.app.observers.append(observe)
    try:
        client.completions.create(model="spark-max", prompt="observed")
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 1, timeout=10)
        client.responses.create(model="spark-max", input="observed")
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 2, timeout=10)
        with pytest.raises(openai.BadRequestError):
            client.completions.create(model="spark-max", prompt="x", echo=True)
        with arrived:
            assert arrived.wait_for(lambda: len(seen) == 3, timeout=10)
    finally:
        gateway.app.observers.remove(observe)
    assert [(o.endpoint, o.status) for o in seen] == [
        ("completions", 200),
        ("responses", 200),
        ("completions", 400),
    ]
    assert seen[2].error_code == "unsupported_parameter"
