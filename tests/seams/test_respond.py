"""The writers: PENDING → OPEN → CLOSED over a fake ASGI send, and the Outcome they return."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from asgi_spark.completion import StreamEncoder
from asgi_spark.errors import UpstreamClosedError, UpstreamTimeoutError
from asgi_spark.events import (
    ContentDelta,
    Event,
    Failed,
    Finish,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
    fold,
)
from asgi_spark.openai_types import (
    ChatCompletionChunk,
    ChunkChoice,
    CompletionUsage,
    Delta,
    ToolCallChunk,
    ToolCallFunction,
)
from asgi_spark.pipeline import RequestContext, Source
from asgi_spark.respond import JSONWriter, SSEWriter, WriterState
from tests.openapi import validate

HELLO: list[list[Event]] = [
    [Started("sid-1"), ContentDelta("Hel")],
    [ContentDelta("lo"), Finish("stop"), Usage(3, 2, 5)],
]


class FakeSend:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])


async def _source(batches: list[list[Event]]) -> Source:
    for batch in batches:
        yield batch


def _context() -> RequestContext:
    return RequestContext(endpoint="chat.completions", requested_model="m")


async def test_sse_writer_streams_and_closes_with_done() -> None:
    send, context = FakeSend(), _context()
    writer = SSEWriter(send, context, include_usage=True)
    assert writer.state is WriterState.PENDING
    outcome = await writer.write(_source(HELLO))
    assert writer.state is WriterState.CLOSED
    assert send.status == 200 and context.committed
    events = send.body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    for event in events[:-2]:
        validate("CreateChatCompletionStreamResponse", json.loads(event.removeprefix("data: ")))
    assert send.messages[-1]["more_body"] is False
    assert (outcome.status, outcome.finish_reason, outcome.upstream_sid) == (200, "stop", "sid-1")
    assert (outcome.frames, outcome.prompt_tokens, outcome.completion_tokens) == (2, 3, 2)
    assert outcome.time_to_first_byte is not None and not outcome.cancelled
    assert outcome.error_code is None and outcome.stream


async def test_sse_writer_failure_before_start_is_a_clean_error_response() -> None:
    send = FakeSend()
    outcome = await SSEWriter(send, _context()).write(
        _source([[Failed(UpstreamTimeoutError("slow"))]])
    )
    assert send.status == 504
    validate("ErrorResponse", json.loads(send.body))
    assert (outcome.status, outcome.error_code, outcome.time_to_first_byte) == (
        504,
        "upstream_timeout",
        None,
    )


async def test_sse_writer_failure_after_start_is_an_error_event_without_done() -> None:
    send = FakeSend()
    outcome = await SSEWriter(send, _context()).write(
        _source([[Started("s"), ContentDelta("a")], [Failed(UpstreamClosedError("gone"))]])
    )
    assert send.status == 200
    last = send.body.decode().strip().split("\n\n")[-1]
    assert json.loads(last.removeprefix("data: "))["error"]["code"] == "upstream_closed"
    assert b"[DONE]" not in send.body
    assert (outcome.status, outcome.error_code) == (200, "upstream_closed")


async def test_sse_writer_an_exception_after_start_is_an_internal_error_event() -> None:
    async def broken() -> Source:
        yield [Started("s")]
        raise RuntimeError("bug")

    send = FakeSend()
    outcome = await SSEWriter(send, _context()).write(broken())
    assert b"internal_error" in send.body and b"[DONE]" not in send.body
    assert outcome.error_code == "internal_error"


async def test_json_writer_answers_once() -> None:
    send, context = FakeSend(), _context()
    context.answered_by = "fallback-model"
    writer = JSONWriter(send, context)
    outcome = await writer.write(_source(HELLO))
    assert writer.state is WriterState.CLOSED and send.status == 200
    body = json.loads(send.body)
    validate("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["model"] == "fallback-model"  # the model that answered
    assert (outcome.finish_reason, outcome.prompt_tokens) == ("stop", 3)


async def test_json_writer_failure_after_content_is_still_an_error_response() -> None:
    send = FakeSend()
    outcome = await JSONWriter(send, _context()).write(
        _source([[Started("s"), ContentDelta("a")], [Failed(UpstreamClosedError("gone"))]])
    )
    assert send.status == 502
    assert outcome.error_code == "upstream_closed"


async def test_a_writer_that_did_not_close_reports_cancelled() -> None:
    writer = SSEWriter(FakeSend(), _context())
    assert writer.outcome().cancelled


# --------------------------------------------------------------- chunk bytes vs the Struct


def _struct_chunk(
    encoder: StreamEncoder, delta: Delta, finish: str | None, include_usage: bool
) -> bytes:
    chunk = ChatCompletionChunk(
        id=encoder.id,
        created=1,
        model="m",
        choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
        usage=None if include_usage else msgspec.UNSET,
    )
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


@pytest.mark.parametrize("include_usage", [False, True])
def test_spliced_chunks_equal_the_struct_encoding_byte_for_byte(include_usage: bool) -> None:
    encoder = StreamEncoder("m", 1, include_usage=include_usage)
    first = encoder.encode([Started("sid"), ReasoningDelta("r"), ContentDelta('"quoted"\n')])
    assert first == _struct_chunk(
        encoder,
        Delta(role="assistant", content='"quoted"\n', reasoning_content="r"),
        None,
        include_usage,
    )
    call = [ToolCall(0, "call_1", "f", '{"a": 1}'), Finish("tool_calls")]
    assert encoder.encode(call) == _struct_chunk(
        encoder,
        Delta(
            tool_calls=[
                ToolCallChunk(
                    index=0,
                    id="call_1",
                    type="function",
                    function=ToolCallFunction(name="f", arguments='{"a": 1}'),
                )
            ]
        ),
        "tool_calls",
        include_usage,
    )
    if include_usage:
        usage = encoder.encode([Usage(1, 2, 3)])
        expected = ChatCompletionChunk(
            id=encoder.id, created=1, model="m", choices=[], usage=CompletionUsage(1, 2, 3)
        )
        assert usage == b"data: " + msgspec.json.encode(expected) + b"\n\n"


def test_fold_is_what_both_encoders_read() -> None:
    batch = fold(HELLO[0])
    assert StreamEncoder("m", 1).encode_batch(batch) == StreamEncoder("m", 1).encode(HELLO[0])
