"""Events → OpenAI bytes: SSE framing of StreamEncoder and the Aggregator's one body."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import msgspec
import pytest

from asgi_spark import sse
from asgi_spark.completion import Aggregator, StreamEncoder, completion_id, encode_completion
from asgi_spark.errors import ContentFilterError, UpstreamClosedError, error_body
from asgi_spark.events import (
    ContentDelta,
    Event,
    Failed,
    Finish,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
)

SID = "cht000b702a@dx18d6fb9d758b894540"
MODEL = "spark-max"
CREATED = 1_700_000_000


def payloads(data: bytes) -> list[Any]:
    """Split SSE bytes, checking the framing, and parse each payload."""
    assert data.endswith(b"\n\n")
    events = data.split(b"\n\n")[:-1]
    out: list[Any] = []
    for event in events:
        assert event.startswith(b"data: ")
        assert b"\n" not in event
        body = event[len(b"data: ") :]
        out.append("[DONE]" if body == b"[DONE]" else json.loads(body))
    return out


def stream(
    batches: list[list[Event]], *, include_usage: bool = False
) -> tuple[StreamEncoder, list[Any]]:
    encoder = StreamEncoder(MODEL, CREATED, include_usage=include_usage)
    data = b"".join(encoder.encode(batch) for batch in batches)
    return encoder, payloads(data + encoder.done())


NORMAL: list[list[Event]] = [
    [Started(SID), ContentDelta("您")],
    [ContentDelta("好")],
    [ContentDelta("。"), Finish("stop"), Usage(37, 3, 40)],
]

# ------------------------------------------------------------------------------- framing


def test_sse_event_framing() -> None:
    assert sse.event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert sse.DONE == b"data: [DONE]\n\n"
    assert StreamEncoder.done() == b"data: [DONE]\n\n"


def test_empty_batch_encodes_to_nothing() -> None:
    assert StreamEncoder(MODEL, CREATED).encode([]) == b""


def test_normal_stream(openapi: ModuleType) -> None:
    encoder, chunks = stream(NORMAL)
    assert chunks[-1] == "[DONE]"
    chunks = chunks[:-1]
    assert len(chunks) == 3
    for chunk in chunks:
        openapi.validate("CreateChatCompletionStreamResponse", chunk)
        assert chunk["id"] == f"chatcmpl-{SID}" == encoder.id
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == CREATED
        assert chunk["model"] == MODEL
        assert "usage" not in chunk
        assert len(chunk["choices"]) == 1 and chunk["choices"][0]["index"] == 0
        assert chunk["choices"][0]["logprobs"] is None
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [{"role": "assistant", "content": "您"}, {"content": "好"}, {"content": "。"}]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "stop"]


def test_role_is_merged_into_the_first_chunk_only() -> None:
    _, chunks = stream([[Started(SID)], [ContentDelta("a")], [Finish("stop")]])
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "a"}, {}]


def test_finish_reason_rides_on_the_chunk_with_the_last_content() -> None:
    _, chunks = stream([[Started(SID), ContentDelta("a"), Finish("length")]])
    assert len(chunks) == 2
    assert chunks[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": "a"},
        "logprobs": None,
        "finish_reason": "length",
    }


def test_usage_chunk_only_with_include_usage(openapi: ModuleType) -> None:
    _, without = stream(NORMAL)
    assert all("usage" not in c for c in without[:-1])
    assert all(c["choices"] for c in without[:-1])

    _, with_usage = stream(NORMAL, include_usage=True)
    assert with_usage[-1] == "[DONE]"
    chunks = with_usage[:-1]
    assert len(chunks) == 4
    for chunk in chunks:
        openapi.validate("CreateChatCompletionStreamResponse", chunk)
        assert "usage" in chunk
    assert [c["usage"] for c in chunks[:-1]] == [None, None, None]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 37, "completion_tokens": 3, "total_tokens": 40}
    assert last["id"] == chunks[0]["id"] and last["created"] == CREATED
    assert last["object"] == "chat.completion.chunk"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_include_usage_without_upstream_usage_has_no_usage_chunk() -> None:
    _, chunks = stream([[Started(SID), ContentDelta("a"), Finish("stop")]], include_usage=True)
    assert len(chunks) == 2
    assert chunks[0]["usage"] is None and chunks[0]["choices"]


def test_id_falls_back_to_a_random_one() -> None:
    assert completion_id(SID) == f"chatcmpl-{SID}"
    generated = completion_id("")
    assert generated.startswith("chatcmpl-") and len(generated) > len("chatcmpl-")
    assert completion_id("") != generated
    encoder, chunks = stream([[Started(""), ContentDelta("a"), Finish("stop")]])
    assert chunks[0]["id"] == encoder.id and encoder.id.startswith("chatcmpl-")


def test_tool_call_chunk(openapi: ModuleType) -> None:
    call = ToolCall(index=0, id="call_x", name="get_weather", arguments='{"a":1}')
    _, chunks = stream([[Started(SID), call, Finish("tool_calls"), Usage(3, 0, 3)]])
    chunk = chunks[0]
    openapi.validate("CreateChatCompletionStreamResponse", chunk)
    assert chunk["choices"][0]["delta"] == {
        "role": "assistant",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_x",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"a":1}'},
            }
        ],
    }
    assert chunk["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_chunk() -> None:
    _, chunks = stream(
        [
            [Started(SID), ReasoningDelta("想"), ReasoningDelta("一想")],
            [ContentDelta("答"), Finish("stop")],
        ]
    )
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "reasoning_content": "想一想",
    }
    assert chunks[1]["choices"][0]["delta"] == {"content": "答"}


def test_failure_after_start_is_one_error_event(openapi: ModuleType) -> None:
    error = UpstreamClosedError("closed in the middle", sid=SID)
    encoder = StreamEncoder(MODEL, CREATED, include_usage=True)
    first = payloads(encoder.encode([Started(SID), ContentDelta("a")]))
    last = payloads(encoder.encode([Failed(error)]))
    assert len(first) == 1 and len(last) == 1
    openapi.validate("ErrorResponse", last[0])
    assert last[0] == json.loads(error_body(error))
    assert last[0]["error"]["code"] == "upstream_closed"


def test_content_before_a_failure_in_one_batch_is_flushed_first() -> None:
    error = UpstreamClosedError("x")
    encoder = StreamEncoder(MODEL, CREATED)
    encoder.encode([Started(SID)])
    out = payloads(encoder.encode([ContentDelta("tail"), Failed(error)]))
    assert out[0]["choices"][0]["delta"] == {"content": "tail"}
    assert out[1] == {"error": msgspec.structs.asdict(error.detail())}


def test_static_error_encoding() -> None:
    error = ContentFilterError("filtered")
    assert StreamEncoder.error(error) == b"data: " + error_body(error) + b"\n\n"


def test_model_names_are_json_escaped() -> None:
    encoder = StreamEncoder('we"ird,"choices":', CREATED, include_usage=True)
    data = encoder.encode([Started(SID), ContentDelta("a"), Finish("stop"), Usage(1, 1, 2)])
    chunks = payloads(data)
    assert [c["model"] for c in chunks] == ['we"ird,"choices":'] * 2
    assert chunks[1]["choices"] == [] and chunks[1]["usage"]["total_tokens"] == 2


# ----------------------------------------------------------------------------- aggregator


def aggregate(batches: list[list[Event]]) -> dict[str, Any]:
    aggregator = Aggregator(MODEL, CREATED)
    for batch in batches:
        aggregator.feed(batch)
    result: dict[str, Any] = json.loads(encode_completion(aggregator.result()))
    return result


def test_aggregated_answer(openapi: ModuleType) -> None:
    body = aggregate(NORMAL)
    openapi.validate("CreateChatCompletionResponse", body)
    assert body["id"] == f"chatcmpl-{SID}"
    assert body["object"] == "chat.completion"
    assert (body["created"], body["model"]) == (CREATED, MODEL)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "您好。", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 37, "completion_tokens": 3, "total_tokens": 40}
    assert "system_fingerprint" not in body


def test_aggregated_tool_calls_have_null_content(openapi: ModuleType) -> None:
    body = aggregate([[Started(SID), ToolCall(0, "call_1", "f", "{}"), Finish("tool_calls")]])
    openapi.validate("CreateChatCompletionResponse", body)
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in body


def test_aggregated_tool_calls_keep_content_when_there_is_some() -> None:
    body = aggregate(
        [
            [
                Started(SID),
                ContentDelta("checking"),
                ToolCall(0, "c", "f", "{}"),
                Finish("tool_calls"),
            ]
        ]
    )
    assert body["choices"][0]["message"]["content"] == "checking"


def test_aggregated_reasoning(openapi: ModuleType) -> None:
    body = aggregate(
        [
            [Started(SID), ReasoningDelta("想")],
            [ReasoningDelta("好了")],
            [ContentDelta("答"), Finish("stop")],
        ]
    )
    openapi.validate("CreateChatCompletionResponse", body)
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "想好了"
    assert message["content"] == "答"


def test_aggregated_empty_answer_has_empty_content() -> None:
    body = aggregate([[Started(SID), Finish("stop")]])
    assert body["choices"][0]["message"]["content"] == ""
    assert "tool_calls" not in body["choices"][0]["message"]
    assert "reasoning_content" not in body["choices"][0]["message"]


def test_aggregator_raises_the_failure() -> None:
    error = ContentFilterError("filtered")
    aggregator = Aggregator(MODEL, CREATED)
    aggregator.feed([Started(SID), ContentDelta("a")])
    aggregator.feed([Failed(error)])
    with pytest.raises(ContentFilterError) as info:
        aggregator.result()
    assert info.value is error


def test_aggregator_without_a_terminal_event_is_a_bug() -> None:
    aggregator = Aggregator(MODEL, CREATED)
    aggregator.feed([Started(SID), ContentDelta("a")])
    with pytest.raises(RuntimeError):
        aggregator.result()
