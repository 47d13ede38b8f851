"""The Responses API through the official ``openai`` SDK (and raw HTTP for the exact events),
uvicorn serving the gateway, the simulator upstream."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pydantic
import pytest

from tests.openapi import sse_data, validate, validate_response_event

from .server import ServedGateway

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
IMAGE = "data:image/png;base64,iVBORw0KGgo="


def raw(gateway: ServedGateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.base_url + "/v1/responses", json=body, timeout=10)


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The stream's events, each checked against its schema and its ``event:`` line."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.removesuffix("\n\n").split("\n\n")
    events = []
    for block, payload in zip(blocks, sse_data(response.text), strict=True):
        event = json.loads(payload)
        assert block.startswith(f"event: {event['type']}\ndata: ")
        validate_response_event(event)
        events.append(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


def test_create_text(gateway: ServedGateway, client: openai.OpenAI) -> None:
    body = {"model": "spark-max", "input": "Hello there", "instructions": "Answer briefly."}
    r = raw(gateway, body)
    assert r.status_code == 200
    validate("Response", r.json())
    response = client.responses.create(**body)  # type: ignore[call-overload]
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "completed" and response.model == "spark-max"
    assert "answering: Hello there" in response.output_text
    assert response.instructions == "Answer briefly."
    assert response.usage is not None and response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant"


def test_stream_event_sequence(gateway: ServedGateway) -> None:
    events = events_of(raw(gateway, {"model": "spark-max", "input": "Hello", "stream": True}))
    kinds = [e["type"] for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = events[-1]["response"]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert final["output"][0]["content"][0]["text"] == deltas == events[-4]["text"]
    assert final["usage"]["output_tokens"] > 0
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1


def test_sdk_stream_helper_and_non_stream_agree(client: openai.OpenAI) -> None:
    whole = client.responses.create(model="spark-max", input="streams agree")
    with client.responses.stream(model="spark-max", input="streams agree") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == whole.output_text


async def test_async_stream(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.responses.create(model="spark-lite", input="hi", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_function_call_round_trip_with_items(client: openai.OpenAI) -> None:
    ask: list[Any] = [{"role": "user", "content": "Please call get_weather for Paris"}]
    first = client.responses.create(model="spark-max", input=ask, tools=[WEATHER])  # type: ignore[list-item]
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "sample"}
    assert first.status == "completed"
    follow_up = [
        *ask,
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp": 21}'},
    ]
    second = client.responses.create(model="spark-max", input=follow_up, tools=[WEATHER])  # type: ignore[list-item]
    assert second.output_text and second.output[0].type == "message"


def test_function_call_stream(gateway: ServedGateway) -> None:
    body = {
        "model": "spark-max",
        "input": "Please call get_weather",
        "tools": [WEATHER],
        "stream": True,
    }
    events = events_of(raw(gateway, body))
    kinds = [e["type"] for e in events]
    assert kinds[2:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    item = events[-1]["response"]["output"][0]
    assert item["type"] == "function_call" and item["name"] == "get_weather"
    assert item["arguments"] == events[3]["delta"] == events[4]["arguments"]


def test_previous_response_id_continues_the_conversation(client: openai.OpenAI) -> None:
    first = client.responses.create(model="spark-max", input="My name is Ada.")
    fresh = client.responses.create(model="spark-max", input="What is my name?")
    second = client.responses.create(
        model="spark-max", input="What is my name?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert second.usage is not None and fresh.usage is not None
    assert second.usage.input_tokens > fresh.usage.input_tokens, "the history was sent"
    third = client.responses.create(
        model="spark-max", input="And again?", previous_response_id=second.id
    )
    assert third.usage is not None and third.usage.input_tokens > second.usage.input_tokens


def test_function_call_output_with_previous_response_id(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="spark-max",
        input="Please call get_weather for Paris",
        tools=[WEATHER],  # type: ignore[list-item]
    )
    call = first.output[0]
    assert call.type == "function_call"
    second = client.responses.create(
        model="spark-max",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 C"}],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output[0].type == "message" and second.output_text


def test_unknown_or_unstored_previous_response_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="spark-max", input="x", previous_response_id="resp_nope")
    assert info.value.code == "response_not_found"
    unstored = client.responses.create(model="spark-max", input="x", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="spark-max", input="y", previous_response_id=unstored.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_retrieve_a_stored_response(client: openai.OpenAI) -> None:
    created = client.responses.create(model="spark-max", input="keep me")
    again = client.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == created.output_text


def test_max_output_tokens_is_incomplete(gateway: ServedGateway) -> None:
    r = raw(gateway, {"model": "spark-max", "input": "long answer", "max_output_tokens": 16})
    validate("Response", r.json())
    assert r.json()["status"] == "incomplete"
    assert r.json()["incomplete_details"] == {"reason": "max_output_tokens"}
    assert r.json()["usage"]["output_tokens"] == 16
    events = events_of(
        raw(
            gateway,
            {"model": "spark-max", "input": "long answer", "max_output_tokens": 16, "stream": True},
        )
    )
    assert events[-1]["type"] == "response.incomplete"


def test_reasoning_items_on_x1(gateway: ServedGateway) -> None:
    events = events_of(raw(gateway, {"model": "spark-x1", "input": "think", "stream": True}))
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert "response.reasoning_text.delta" in [e["type"] for e in events]


def test_input_image_on_the_image_model(client: openai.OpenAI) -> None:
    content = [
        {"type": "input_text", "text": "what is in the picture?"},
        {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
    ]
    response = client.responses.create(
        model="spark-image",
        input=[{"role": "user", "content": content}],  # type: ignore[list-item]
    )
    assert "what is in the picture?" in response.output_text


def test_input_image_on_a_text_model_is_a_400_naming_the_part(client: openai.OpenAI) -> None:
    content = [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(
            model="spark-max",
            input=[{"role": "user", "content": "hello"}, {"role": "user", "content": content}],  # type: ignore[list-item]
        )
    assert info.value.param == "input[1].content[1]"
    assert "'input[1].content[1]'" in info.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
    ],
)
def test_unsupported_or_invalid_is_a_400(
    gateway: ServedGateway, body: dict[str, Any], param: str
) -> None:
    r = raw(gateway, {"model": "spark-max", "input": "x", **body})
    assert r.status_code == 400
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == param


def test_unknown_model_and_bad_body(gateway: ServedGateway) -> None:
    r = raw(gateway, {"model": "nope", "input": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = raw(gateway, {"input": "x"})
    assert r.status_code == 400 and "model" in r.json()["error"]["message"]


def test_failure_before_the_start_is_an_http_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="spark-max", input="x [spark:error_code=11202]")
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="spark-max", input="x [spark:error_code=11202]", stream=True)


def test_failure_after_the_start_ends_with_error_and_failed(gateway: ServedGateway) -> None:
    body = {"model": "spark-max", "input": "x [spark:close_after=2]", "stream": True}
    events = events_of(raw(gateway, body))
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["code"] == "upstream_closed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"


def test_ignored_fields_are_named_in_the_header(gateway: ServedGateway) -> None:
    r = raw(
        gateway,
        {"model": "spark-max", "input": "x", "truncation": "auto", "prompt_cache_key": "k"},
    )
    assert r.status_code == 200
    assert r.headers["x-asgi-spark-ignored-params"] == "truncation, prompt_cache_key"


def test_spark_options_and_web_sources(gateway: ServedGateway, client: openai.OpenAI) -> None:
    search = {"spark": {"web_search": {"search_mode": "deep"}, "top_k": 3}}
    response = client.responses.create(
        model="spark-max", input="合肥今天有什么新闻", extra_body=search
    )
    chat = gateway.simulator.requests[-1]["parameter"]["chat"]  # type: ignore[union-attr]
    assert chat["top_k"] == 3 and chat["tools"][0]["web_search"]["search_mode"] == "deep"
    notes = response.output[0].content[0].annotations  # type: ignore[union-attr]
    assert [n.url for n in notes] == [  # type: ignore[union-attr]
        "https://search.example.com/1",
        "https://search.example.com/2",
    ]
    events = events_of(
        raw(
            gateway, {"model": "spark-max", "input": "合肥今天有什么新闻", "stream": True, **search}
        )
    )
    assert "response.output_text.annotation.added" in [e["type"] for e in events]


# ------------------------------------------ emulated by the chat pipeline: text.format, tool_choice


class City(pydantic.BaseModel):
    name: str
    population: int


def test_parse_with_text_format(client: openai.OpenAI) -> None:
    response = client.responses.parse(model="spark-max", input="A city, please", text_format=City)
    assert isinstance(response.output_parsed, City)
    assert City.model_validate_json(response.output_text) == response.output_parsed
    with client.responses.stream(
        model="spark-max", input="A city, please", text_format=City
    ) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, City)


def test_json_object_format(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="spark-max",
        input="Answer in JSON",
        text={"format": {"type": "json_object"}},
    )
    assert isinstance(json.loads(response.output_text), dict)
    assert response.text.format.type == "json_object"  # type: ignore[union-attr]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "name": "get_weather"}])
def test_forced_tool_choice(client: openai.OpenAI, choice: Any) -> None:
    response = client.responses.create(
        model="spark-max",
        input="Hello",
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice=choice,
    )
    call = response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments).keys() == {"city"}
