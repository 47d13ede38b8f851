"""Property tests: arbitrary upstream conversations through Translator → StreamEncoder/Aggregator.

Every generated conversation (content, final, function-call, plugins, error and malformed frames
in any order, with any seq) ends with the connection closing.  Whatever happened, the client must
see one well-formed outcome, and the streamed and aggregated answers must agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_spark.adapters.spark.translate import Translator
from asgi_spark.completion import Aggregator, StreamEncoder
from asgi_spark.errors import GatewayError, error_body
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
from tests.spark import frames_strategies as fs

MODEL = "spark-max"
CREATED = 1_700_000_000
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@dataclass
class Run:
    batches: list[list[Event]]
    events: list[Event]
    terminal: Finish | Failed
    started: Started | None


def run(
    conversation: list[fs.Raw], max_tokens: int | None, close_code: int | None, close_reason: str
) -> tuple[Translator, Run]:
    translator = Translator(max_tokens)
    batches = [translator.feed_raw(raw.data) for raw in conversation]
    batches.append(translator.feed_close(close_code, close_reason))
    events = [event for batch in batches for event in batch]
    terminals = [e for e in events if isinstance(e, (Finish, Failed))]
    assert len(terminals) == 1, events
    started = [e for e in events if isinstance(e, Started)]
    assert len(started) <= 1, events
    return translator, Run(batches, events, terminals[0], started[0] if started else None)


conversations_and_close = {
    "conversation": fs.conversations(),
    "max_tokens": st.one_of(st.none(), st.integers(min_value=1, max_value=300)),
    "close_code": fs.close_codes,
    "close_reason": fs.close_reasons,
}


# ------------------------------------------------------------------- (a) (b) (c): events


@PROPERTY_SETTINGS
@given(**conversations_and_close)
def test_one_terminal_event_and_started_first(
    conversation: list[fs.Raw], max_tokens: int | None, close_code: int | None, close_reason: str
) -> None:
    translator, r = run(conversation, max_tokens, close_code, close_reason)
    # (b) terminal after the close, whatever came before
    assert translator.terminal
    # (a) exactly one terminal event; only Usage may follow a Finish; nothing follows a Failed
    at = r.events.index(r.terminal)
    tail = r.events[at + 1 :]
    if isinstance(r.terminal, Finish):
        assert tail == [] or (len(tail) == 1 and isinstance(tail[0], Usage)), r.events
    else:
        assert tail == [], r.events
        assert isinstance(r.terminal.error, GatewayError)
    assert not any(isinstance(e, Usage) for e in r.events[:at])
    # the terminal event arrives in the batch where the translator became terminal; after that
    # only empty batches
    batch_at = next(i for i, b in enumerate(r.batches) if r.terminal in b)
    assert all(b == [] for b in r.batches[batch_at + 1 :])
    # (c) Started at most once, before any content / tool call / finish
    answer = [
        e
        for e in r.events
        if isinstance(e, (ContentDelta, ReasoningDelta, ToolCall, Finish, Usage))
    ]
    if answer:
        assert r.started is not None, r.events
        first = r.events.index(r.started)
        assert all(r.events.index(e) > first for e in answer)
        assert r.events[0] is r.started
    # closing again changes nothing
    assert translator.feed_close() == []


# --------------------------------------------------------------------------- (d) stream


@dataclass
class Streamed:
    chunks: list[dict[str, Any]] = field(default_factory=list)
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def sse_payloads(data: bytes) -> list[str]:
    if not data:
        return []
    assert data.endswith(b"\n\n")
    events = data[:-2].split(b"\n\n")
    for event in events:
        assert event.startswith(b"data: ") and b"\n" not in event, event
    return [event[len(b"data: ") :].decode("utf-8") for event in events]


def check_stream(openapi: ModuleType, r: Run, include_usage: bool) -> Streamed:
    encoder = StreamEncoder(MODEL, CREATED, include_usage=include_usage)
    data = b"".join(encoder.encode(batch) for batch in r.batches)
    finished = isinstance(r.terminal, Finish)
    if finished:
        data += encoder.done()
    payloads = sse_payloads(data)
    out = Streamed()

    if finished:
        assert payloads[-1] == "[DONE]"
        payloads = payloads[:-1]
    assert "[DONE]" not in payloads

    if isinstance(r.terminal, Failed):
        assert payloads, "a failure must reach the client"
        error = json.loads(payloads[-1])
        openapi.validate("ErrorResponse", error)
        assert error == json.loads(error_body(r.terminal.error))
        out.error = error
        payloads = payloads[:-1]
        if r.started is None:
            assert payloads == []  # nothing but the error: the app answers with an HTTP error

    usage_chunks = 0
    for n, payload in enumerate(payloads):
        chunk = json.loads(payload)
        assert "error" not in chunk, "an error event can only be the last payload"
        openapi.validate("CreateChatCompletionStreamResponse", chunk)
        out.chunks.append(chunk)
        assert r.started is not None
        expected_id = f"chatcmpl-{r.started.response_id}" if r.started.response_id else encoder.id
        assert chunk["id"] == expected_id == encoder.id
        assert chunk["created"] == CREATED and chunk["model"] == MODEL
        if include_usage:
            assert "usage" in chunk
        else:
            assert "usage" not in chunk
        if not chunk["choices"]:  # the usage chunk: last, once, only with include_usage
            assert include_usage and chunk["usage"] is not None
            assert n == len(payloads) - 1
            usage_chunks += 1
            out.usage = chunk["usage"]
            continue
        if include_usage:
            assert chunk["usage"] is None
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        assert ("role" in delta) is (n == 0), (n, delta)
        if n == 0:
            assert delta["role"] == "assistant"
        out.content += delta.get("content") or ""
        out.reasoning += delta.get("reasoning_content") or ""
        out.tool_calls += delta.get("tool_calls") or []
        if choice["finish_reason"] is not None:
            assert out.finish_reason is None, "two chunks with a finish_reason"
            out.finish_reason = choice["finish_reason"]
        else:
            assert out.finish_reason is None, "a chunk after the finishing chunk"

    usage_events = [e for e in r.events if isinstance(e, Usage)]
    if finished:
        assert isinstance(r.terminal, Finish)
        assert out.finish_reason == r.terminal.reason
        if include_usage and usage_events:
            u = usage_events[0]
            assert usage_chunks == 1
            assert out.usage == {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.total_tokens,
            }
        else:
            assert usage_chunks == 0
    else:
        assert out.finish_reason is None
        assert usage_chunks == 0

    # the stream carries exactly the translator's deltas
    assert out.content == "".join(e.text for e in r.events if isinstance(e, ContentDelta))
    assert out.reasoning == "".join(e.text for e in r.events if isinstance(e, ReasoningDelta))
    assert out.tool_calls == [
        {
            "index": e.index,
            "id": e.id,
            "type": "function",
            "function": {"name": e.name, "arguments": e.arguments},
        }
        for e in r.events
        if isinstance(e, ToolCall)
    ]
    return out


@PROPERTY_SETTINGS
@given(**conversations_and_close)
def test_stream_and_aggregate_agree_and_validate(
    openapi: ModuleType,
    conversation: list[fs.Raw],
    max_tokens: int | None,
    close_code: int | None,
    close_reason: str,
) -> None:
    _, r = run(conversation, max_tokens, close_code, close_reason)
    plain = check_stream(openapi, r, include_usage=False)
    with_usage = check_stream(openapi, r, include_usage=True)
    assert plain.content == with_usage.content
    assert plain.finish_reason == with_usage.finish_reason

    # (e) the aggregated answer is the streamed one, or the same failure
    aggregator = Aggregator(MODEL, CREATED)
    for batch in r.batches:
        aggregator.feed(batch)
    if isinstance(r.terminal, Failed):
        try:
            aggregator.result()
        except GatewayError as exc:
            assert exc is r.terminal.error
        else:
            raise AssertionError("the aggregator returned an answer for a failed stream")
        return
    completion = json.loads(_encode(aggregator))
    openapi.validate("CreateChatCompletionResponse", completion)
    (choice,) = completion["choices"]
    assert r.started is not None
    if r.started.response_id:  # without a sid each answer gets its own random id
        assert completion["id"] == with_usage.chunks[0]["id"]
    assert completion["id"].startswith("chatcmpl-")
    assert completion["created"] == CREATED
    assert choice["finish_reason"] == plain.finish_reason
    message = choice["message"]
    assert (message["content"] or "") == plain.content
    if plain.tool_calls:
        assert message["tool_calls"] == [
            {"id": c["id"], "type": "function", "function": c["function"]} for c in plain.tool_calls
        ]
        if not plain.content:
            assert message["content"] is None
    else:
        assert "tool_calls" not in message
        assert message["content"] == plain.content
    assert message.get("reasoning_content", "") == plain.reasoning
    usage_events = [e for e in r.events if isinstance(e, Usage)]
    if usage_events:
        assert completion["usage"] == with_usage.usage
    else:
        assert "usage" not in completion


def _encode(aggregator: Aggregator) -> bytes:
    from asgi_spark.completion import encode_completion

    return encode_completion(aggregator.result())


# ---------------------------------------------------- well-formed answers: exact content


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[list[bytes], list[str], dict[str, Any] | None]:
    pieces = draw(st.lists(fs.texts, min_size=1, max_size=8))
    usage = draw(fs.usages)
    sid = draw(fs.sids)
    frames: list[bytes] = []
    for i, piece in enumerate(pieces[:-1]):
        frames.append(fs.content(i, piece, status=0 if i == 0 else 1, sid=sid))
        if draw(st.booleans()) and draw(st.booleans()):
            frames.append(fs.plugins(sid))
    frames.append(fs.final(len(pieces) - 1, pieces[-1], sid=sid, usage_=usage))
    return frames, pieces, usage


@PROPERTY_SETTINGS
@given(well_formed(), st.one_of(st.none(), st.integers(min_value=1, max_value=300)))
def test_a_well_formed_answer_is_delivered_whole(
    answer: tuple[list[bytes], list[str], dict[str, Any] | None], max_tokens: int | None
) -> None:
    frames, pieces, usage = answer
    t = Translator(max_tokens)
    events = [e for frame in frames for e in t.feed_raw(frame)]
    assert t.feed_close(1000, "close this ws conn") == []
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == "".join(pieces)
    finishes = [e for e in events if isinstance(e, Finish)]
    completion = usage["text"]["completion_tokens"] if usage else None
    length = bool(max_tokens and completion is not None and completion >= max_tokens)
    assert finishes == [Finish("length" if length else "stop")]
    assert [e for e in events if isinstance(e, Usage)] == (
        [
            Usage(
                usage["text"]["prompt_tokens"],
                usage["text"]["completion_tokens"],
                usage["text"]["total_tokens"],
            )
        ]
        if usage
        else []
    )
    assert t.ignored == 0
