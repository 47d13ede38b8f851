"""ResponseBuilder: events → the Responses event sequence and object, checked against the
OpenAPI schemas (no sockets)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from asgi_spark.errors import RateLimitError, UpstreamClosedError
from asgi_spark.events import (
    Citation,
    ContentDelta,
    Event,
    Finish,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
    fold,
)
from asgi_spark.responses_build import ResponseBuilder
from asgi_spark.responses_types import Response, encoder


def shell() -> Response:
    return Response(id="resp_abc", created_at=1700000000, status="in_progress", model="m")


def run(batches: list[list[Event]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The stream's events and the final response (what a non-streamed answer would be)."""
    streamed = ResponseBuilder(shell(), stream=True)
    whole = ResponseBuilder(shell(), stream=False)
    out = streamed.start()
    assert whole.start() == []
    for events in batches:
        batch = fold(events)
        out += streamed.add(batch)
        assert whole.add(batch) == []
    out += streamed.terminal(1700000001)
    whole.terminal(1700000001)
    decoded = [json.loads(encoder.encode(e)) for e in out]
    final = json.loads(encoder.encode(whole.response))
    assert decoded[-1]["response"] == final, "streamed and non-streamed answers agree"
    return decoded, final


def validate_event(openapi: ModuleType, event: dict[str, Any]) -> None:
    openapi.validate_response_event(event)


def check(openapi: ModuleType, events: list[dict[str, Any]], final: dict[str, Any]) -> None:
    for event in events:
        validate_event(openapi, event)
    openapi.validate("Response", final)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_text_answer(openapi: ModuleType) -> None:
    events, final = run(
        [
            [Started("sid"), ContentDelta("Hel")],
            [ContentDelta("lo"), Finish("stop"), Usage(3, 2, 5)],
        ]
    )
    check(openapi, events, final)
    assert kinds(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert (
        events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    )
    assert events[6]["text"] == "Hello"
    assert final["status"] == "completed" and final["completed_at"] == 1700000001
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][0]["status"] == "completed"
    assert final["usage"]["input_tokens"] == 3 and final["usage"]["output_tokens"] == 2
    assert final["usage"]["total_tokens"] == 5


def test_function_calls(openapi: ModuleType) -> None:
    events, final = run(
        [
            [Started("sid")],
            [
                ToolCall(0, "call_1", "get_weather", '{"city":"Paris"}'),
                ToolCall(1, "call_2", "get_time", "{}"),
                Finish("tool_calls"),
                Usage(3, 0, 3),
            ],
        ]
    )
    check(openapi, events, final)
    assert kinds(events)[2:] == [
        *[
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
        ]
        * 2,
        "response.completed",
    ]
    assert events[2]["item"]["arguments"] == "" and events[2]["item"]["status"] == "in_progress"
    assert events[3]["delta"] == '{"city":"Paris"}'
    assert events[4]["name"] == "get_weather" and events[4]["arguments"] == '{"city":"Paris"}'
    calls = final["output"]
    assert [(c["type"], c["call_id"], c["name"]) for c in calls] == [
        ("function_call", "call_1", "get_weather"),
        ("function_call", "call_2", "get_time"),
    ]
    assert final["status"] == "completed"
    assert len({c["id"] for c in calls}) == 2


def test_reasoning_then_text(openapi: ModuleType) -> None:
    events, final = run(
        [
            [Started("sid"), ReasoningDelta("think")],
            [ReasoningDelta("ing")],
            [ContentDelta("answer"), Finish("stop"), Usage(1, 2, 3)],
        ]
    )
    check(openapi, events, final)
    assert kinds(events)[2:6] == [
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
    ]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["content"] == [{"type": "reasoning_text", "text": "thinking"}]


@pytest.mark.parametrize(
    ("reason", "detail"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete(openapi: ModuleType, reason: Any, detail: str) -> None:
    events, final = run([[Started("sid"), ContentDelta("cut"), Finish(reason)]])
    check(openapi, events, final)
    assert events[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": detail}
    assert final["output"][0]["status"] == "incomplete"


def test_an_empty_answer_is_one_empty_message(openapi: ModuleType) -> None:
    events, final = run([[Started("sid"), Finish("stop")]])
    check(openapi, events, final)
    assert final["output"][0]["content"][0]["text"] == ""


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UpstreamClosedError("gone"), "server_error"),
        (RateLimitError("slow down"), "rate_limit_exceeded"),
    ],
)
def test_failure_after_the_start(openapi: ModuleType, error: Any, code: str) -> None:
    builder = ResponseBuilder(shell(), stream=True)
    out = builder.start()
    out += builder.add(fold([ContentDelta("par")]))
    out += builder.fail(error)
    events = [json.loads(encoder.encode(e)) for e in out]
    for event in events:
        validate_event(openapi, event)
    assert kinds(events)[-5:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "error",
        "response.failed",
    ]
    error_event, failed = events[-2], events[-1]
    assert error_event["type"] == "error" and error_event["code"] == error.code
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": code, "message": error.message}
    assert failed["response"]["output"][0]["status"] == "incomplete"


def test_web_sources_become_url_citations(openapi: ModuleType) -> None:
    events, final = run(
        [
            [
                Started("sid"),
                Citation(1, "https://a.example/1", "A"),
                Citation(2, "https://b/2", "B"),
            ],
            [ContentDelta("News [1] and more")],
            [ContentDelta(" news."), Finish("stop")],
        ]
    )
    check(openapi, events, final)
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [e["annotation_index"] for e in added] == [0, 1]
    notes = final["output"][0]["content"][0]["annotations"]
    assert notes == [
        {
            "type": "url_citation",
            "url": "https://a.example/1",
            "title": "A",
            "start_index": 5,
            "end_index": 8,
        },
        {
            "type": "url_citation",
            "url": "https://b/2",
            "title": "B",
            "start_index": 0,
            "end_index": 23,
        },
    ]
    kinds = [e["type"] for e in events]
    assert kinds.index("response.output_text.annotation.added") < kinds.index(
        "response.output_text.done"
    )
