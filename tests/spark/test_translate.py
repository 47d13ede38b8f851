"""The streaming translator: the transition table row by row, then each documented outcome."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from asgi_spark.adapters.spark import translate
from asgi_spark.adapters.spark.frames import FrameError, decode_frame
from asgi_spark.adapters.spark.translate import TRANSITIONS, Input, State, Step, Translator
from asgi_spark.errors import (
    ContentFilterError,
    InternalError,
    InvalidRequestError,
    RateLimitError,
    UpstreamClosedError,
    UpstreamProtocolError,
)
from asgi_spark.events import (
    Citation,
    ContentDelta,
    Event,
    Failed,
    Finish,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
)
from asgi_spark.secrets import Secret
from tests.spark import frames_strategies as fs

SID = fs.SID

# ------------------------------------------------------------------------------ the table


def test_table_is_total() -> None:
    assert set(TRANSITIONS) == set(itertools.product(State, Input))
    assert len(TRANSITIONS) == len(State) * len(Input)


def test_every_step_has_an_implementation() -> None:
    used = {step for steps, _ in TRANSITIONS.values() for step in steps}
    assert used <= set(translate._STEPS)
    assert set(translate._STEPS) == set(Step)


def test_terminal_states_never_change() -> None:
    for (state, _), (_, next_state) in TRANSITIONS.items():
        if state in (State.DONE, State.FAILED):
            assert next_state is state


def test_closing_a_live_answer_is_a_failure() -> None:
    for state in (State.AWAITING, State.STREAMING):
        assert TRANSITIONS[(state, Input.CLOSED)] == ((Step.FAIL,), State.FAILED)


# Drive a fresh translator into a state, then feed one input of a kind.
def into(state: State, max_tokens: int | None = None) -> Translator:
    t = Translator(max_tokens)
    if state is State.STREAMING:
        t.feed_raw(fs.content(0, "您", status=0))
    elif state is State.DONE:
        t.feed_raw(fs.final(0, "完", usage_=fs.usage(5, 1)))
    elif state is State.FAILED:
        t.feed_raw(fs.error(10003))
    assert t.state is state
    return t


INPUTS: dict[Input, Callable[[Translator], list[Event]]] = {
    Input.CONTENT: lambda t: t.feed_raw(fs.content(5, "好", status=1)),
    Input.FINAL: lambda t: t.feed_raw(fs.final(5, "。", usage_=fs.usage(10, 20))),
    Input.FUNCTION_CALL: lambda t: t.feed_raw(fs.function_call(5, usage_=fs.usage(3, 0))),
    Input.PLUGINS: lambda t: t.feed_raw(fs.plugins()),
    Input.ERROR: lambda t: t.feed_raw(fs.error(10003)),
    Input.FILTERED: lambda t: t.feed_raw(fs.error(10014, "output moderation")),
    Input.MALFORMED: lambda t: t.feed_raw(b"not json"),
    Input.OUT_OF_ORDER: lambda t: t.feed_raw(fs.content(-1, "x")),
    Input.CLOSED: lambda t: t.feed_close(1000, "close this ws conn"),
}

S, I = State, Input  # noqa: E741
# What the client sees for each row, written independently of the table's step names.
EXPECTED: dict[tuple[State, Input], tuple[list[type], State]] = {
    (S.AWAITING, I.CONTENT): ([Started, ContentDelta], S.STREAMING),
    (S.AWAITING, I.FINAL): ([Started, ContentDelta, Finish, Usage], S.DONE),
    (S.AWAITING, I.FUNCTION_CALL): ([Started, ToolCall, Finish, Usage], S.DONE),
    (S.AWAITING, I.PLUGINS): ([Started, Citation], S.STREAMING),
    (S.AWAITING, I.ERROR): ([Failed], S.FAILED),
    (S.AWAITING, I.FILTERED): ([Failed], S.FAILED),
    (S.AWAITING, I.MALFORMED): ([Failed], S.FAILED),
    (S.AWAITING, I.OUT_OF_ORDER): ([Failed], S.FAILED),
    (S.AWAITING, I.CLOSED): ([Failed], S.FAILED),
    (S.STREAMING, I.CONTENT): ([ContentDelta], S.STREAMING),
    (S.STREAMING, I.FINAL): ([ContentDelta, Finish, Usage], S.DONE),
    (S.STREAMING, I.FUNCTION_CALL): ([ToolCall, Finish, Usage], S.DONE),
    (S.STREAMING, I.PLUGINS): ([Citation], S.STREAMING),
    (S.STREAMING, I.ERROR): ([Failed], S.FAILED),
    (S.STREAMING, I.FILTERED): ([Finish], S.DONE),
    (S.STREAMING, I.MALFORMED): ([Failed], S.FAILED),
    (S.STREAMING, I.OUT_OF_ORDER): ([Failed], S.FAILED),
    (S.STREAMING, I.CLOSED): ([Failed], S.FAILED),
    **{(S.DONE, i): ([], S.DONE) for i in Input},
    **{(S.FAILED, i): ([], S.FAILED) for i in Input},
}


@pytest.mark.parametrize(
    ("state", "kind"), sorted(EXPECTED, key=lambda k: (k[0].value, k[1].value))
)
def test_every_row(state: State, kind: Input) -> None:
    expected_types, expected_state = EXPECTED[(state, kind)]
    t = into(state)
    before = t.ignored
    events = INPUTS[kind](t)
    assert [type(e) for e in events] == expected_types
    # every failing row carries the cause its input was classified with
    assert not [e for e in events if isinstance(e, Failed) and type(e.error) is InternalError]
    assert t.state is expected_state
    assert TRANSITIONS[(state, kind)][1] is expected_state
    terminal_before = state in (State.DONE, State.FAILED)
    assert t.ignored == before + (1 if terminal_before and kind is not Input.CLOSED else 0)


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        (Input.ERROR, InvalidRequestError),
        (Input.FILTERED, ContentFilterError),
        (Input.MALFORMED, FrameError),
        (Input.OUT_OF_ORDER, UpstreamProtocolError),
        (Input.CLOSED, UpstreamClosedError),
    ],
)
def test_failures_before_the_answer_carry_the_mapped_error(kind: Input, error_type: type) -> None:
    (event,) = INPUTS[kind](into(State.AWAITING))
    assert isinstance(event, Failed)
    assert type(event.error) is error_type


# ------------------------------------------------------------------------------ outcomes


def feed_all(t: Translator, *frames: bytes) -> list[list[Event]]:
    return [t.feed_raw(frame) for frame in frames]


def test_normal_stream() -> None:
    t = Translator(4096)
    batches = feed_all(
        t,
        fs.content(0, "您", status=0),
        fs.content(1, "好，", status=1),
        fs.content(2, "", status=1),
        fs.final(3, "世界。", usage_=fs.usage(37, 169, question=4)),
    )
    assert batches == [
        [Started(SID), ContentDelta("您")],
        [ContentDelta("好，")],
        [],
        [ContentDelta("世界。"), Finish("stop"), Usage(37, 169, 206)],
    ]
    assert t.state is State.DONE and t.terminal
    assert t.sid == SID
    assert t.feed_close(1000, "close this ws conn") == []
    assert t.ignored == 0


def test_a_single_final_frame_is_a_whole_answer() -> None:
    t = Translator()
    assert t.feed_raw(fs.final(0, "ok")) == [Started(SID), ContentDelta("ok"), Finish("stop")]


def test_final_frame_without_content() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    assert t.feed_raw(fs.final(1, "", usage_=fs.usage(1, 1))) == [Finish("stop"), Usage(1, 1, 2)]


def test_usage_only_comes_from_the_final_frame() -> None:
    t = Translator()
    first = t.feed_raw(fs.content(0, "a", status=0, usage_=fs.usage(1, 1)))
    assert not any(isinstance(e, Usage) for e in first)
    assert t.feed_raw(fs.final(1, "b")) == [ContentDelta("b"), Finish("stop")]


@pytest.mark.parametrize(
    ("max_tokens", "completion", "reason"),
    [
        (10, 10, "length"),
        (10, 11, "length"),
        (10, 9, "stop"),
        (None, 10_000, "stop"),
        (1, 0, "stop"),
    ],
)
def test_finish_length(max_tokens: int | None, completion: int, reason: str) -> None:
    t = Translator(max_tokens)
    events = t.feed_raw(fs.final(0, "x", usage_=fs.usage(5, completion)))
    assert Finish(reason) in events  # type: ignore[arg-type]


def test_without_usage_there_is_no_length() -> None:
    assert Finish("stop") in Translator(1).feed_raw(fs.final(0, "x"))


def test_function_call_frame() -> None:
    t = Translator(1)  # even a tiny budget: a tool call finishes with tool_calls
    events = t.feed_raw(
        fs.function_call(0, "天气查询", '{"location":"合肥"}', usage_=fs.usage(3, 5))
    )
    assert events == [
        Started(SID),
        ToolCall(
            index=0,
            id="call_cht000b702a_dx18d6fb9d758b894540",
            name="天气查询",
            arguments='{"location":"合肥"}',
        ),
        Finish("tool_calls"),
        Usage(3, 5, 8),
    ]
    assert t.state is State.DONE


def test_function_call_ids_are_safe_without_a_sid() -> None:
    events = Translator().feed_raw(fs.function_call(0, sid=""))
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.id == "call_spark"


def test_function_call_after_content_keeps_the_content() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "让我查一下", status=0))
    raw = fs.dumps(
        {
            "header": fs.header(status=2),
            "payload": {
                "choices": {
                    "status": 2,
                    "seq": 1,
                    "text": [fs.text_item("。", function_call={"name": "f", "arguments": "{}"})],
                }
            },
        }
    )
    events = t.feed_raw(raw)
    assert [type(e) for e in events] == [ContentDelta, ToolCall, Finish]
    assert events[-1] == Finish("tool_calls")


def test_reasoning_deltas() -> None:
    t = Translator()
    batches = feed_all(
        t,
        fs.content(0, "", status=0, reasoning="先想一想"),
        fs.content(1, "", reasoning="再想一想"),
        fs.content(2, "答案", reasoning=""),
        fs.final(3, "。", usage_=fs.usage(1, 2)),
    )
    assert batches == [
        [Started(SID), ReasoningDelta("先想一想")],
        [ReasoningDelta("再想一想")],
        [ContentDelta("答案")],
        [ContentDelta("。"), Finish("stop"), Usage(1, 2, 3)],
    ]


def test_reasoning_and_content_in_one_frame_keep_their_order() -> None:
    events = Translator().feed_raw(fs.content(0, "a", status=0, reasoning="r"))
    assert events == [Started(SID), ReasoningDelta("r"), ContentDelta("a")]


def test_a_plugins_frame_starts_the_answer_with_its_citations() -> None:
    t = Translator()
    cite = Citation(index=1, url="https://example.com", title="t")
    assert t.feed_raw(fs.plugins()) == [Started(SID), cite]
    assert t.state is State.STREAMING
    assert t.feed_raw(fs.content(0, "a", status=0)) == [ContentDelta("a")]
    assert t.feed_raw(fs.plugins()) == [cite]
    assert t.ignored == 0


@pytest.mark.parametrize(
    "content", ['{"not": "a list"}', "not json", json.dumps([{"index": 1}]), None]
)
def test_plugin_items_of_other_shapes_carry_no_citations(content: object) -> None:
    from asgi_spark.adapters.spark.translate import citations

    assert citations(({"name": "other", "content": content},)) == []


def test_error_frame_before_content() -> None:
    t = Translator()
    events = t.feed_raw(fs.error(10003, "ClientMsgError:(23:02:32.721) invalid model domain"))
    assert len(events) == 1 and isinstance(events[0], Failed)
    error = events[0].error
    assert type(error) is InvalidRequestError
    assert error.status == 400
    assert error.upstream_code == 10003
    assert error.sid == SID
    assert "invalid model domain" in error.message and SID in error.message
    assert t.state is State.FAILED
    assert t.feed_close() == []


def test_error_frame_after_content_fails() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    (event,) = t.feed_raw(fs.error(11202, "AppIdQpsOverFlowError:(1) qps"))
    assert isinstance(event, Failed) and type(event.error) is RateLimitError
    assert t.state is State.FAILED


def test_output_moderation_after_content_finishes_with_content_filter() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "一些", status=0))
    t.feed_raw(fs.content(1, "内容"))
    assert t.feed_raw(fs.error(10014, "output moderation")) == [Finish("content_filter")]
    assert t.state is State.DONE
    assert t.feed_close(1000) == []


def test_output_moderation_before_content_fails() -> None:
    t = Translator()
    (event,) = t.feed_raw(fs.error(10014, "output moderation"))
    assert isinstance(event, Failed)
    assert type(event.error) is ContentFilterError
    assert (event.error.status, event.error.code) == (400, "content_filter")
    assert t.state is State.FAILED


def test_input_moderation_after_content_is_a_failure() -> None:
    # Only 10014 (output moderation) may cut an answer short with content_filter.
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    (event,) = t.feed_raw(fs.error(10013, "input moderation"))
    assert isinstance(event, Failed) and type(event.error) is ContentFilterError


@pytest.mark.parametrize("seq", [1, 0])
def test_seq_regression_fails(seq: int) -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    t.feed_raw(fs.content(1, "b"))
    (event,) = t.feed_raw(fs.content(seq, "c"))
    assert isinstance(event, Failed)
    assert type(event.error) is UpstreamProtocolError
    assert f"seq went from 1 to {seq}" in event.error.message
    assert event.error.sid == SID
    assert t.state is State.FAILED


def test_seq_gaps_are_fine() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    assert t.feed_raw(fs.content(7, "b")) == [ContentDelta("b")]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"header": {"code": "0"}}',
        b'{"header": {"code": 0}}',
        b'{"header": {"code": 0}, "payload": {}}',
    ],
)
def test_malformed_frame_fails(raw: bytes) -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    (event,) = t.feed_raw(raw)
    assert isinstance(event, Failed)
    assert isinstance(event.error, UpstreamProtocolError)
    assert event.error.status == 502
    assert t.state is State.FAILED


def test_malformed_frame_error_is_the_decoder_error() -> None:
    (event,) = Translator().feed_raw(b'{"header": {"code": "0"}}')
    assert isinstance(event, Failed) and isinstance(event.error, FrameError)
    assert "$.header.code" in event.error.message


def test_close_before_any_frame() -> None:
    t = Translator()
    (event,) = t.feed_close(1006, "")
    assert isinstance(event, Failed)
    error = event.error
    assert type(error) is UpstreamClosedError
    assert error.retryable
    assert error.status == 502
    assert "before answering" in error.message and "1006" in error.message
    assert t.state is State.FAILED and t.terminal


def test_close_in_the_middle() -> None:
    t = Translator()
    t.feed_raw(fs.content(0, "a", status=0))
    (event,) = t.feed_close(1000, "close this ws conn")
    assert isinstance(event, Failed)
    error = event.error
    assert type(error) is UpstreamClosedError
    assert "in the middle" in error.message
    assert "'close this ws conn'" in error.message
    assert SID in error.message and error.sid == SID
    assert t.state is State.FAILED


def test_close_without_close_frame() -> None:
    (event,) = Translator().feed_close()
    assert isinstance(event, Failed) and "no close frame" in event.error.message


def test_frames_after_the_final_one_are_ignored_and_counted() -> None:
    t = Translator()
    t.feed_raw(fs.final(0, "done"))
    assert t.feed_raw(fs.content(1, "late")) == []
    assert t.feed_raw(fs.error(10003)) == []
    assert t.feed_raw(b"garbage") == []
    assert t.ignored == 3
    assert t.feed_close() == []
    assert t.ignored == 3
    assert t.state is State.DONE


def test_frames_after_a_failure_are_ignored_and_counted() -> None:
    t = Translator()
    t.feed_raw(fs.error(10008))
    assert t.feed_raw(fs.final(0, "late")) == []
    assert t.ignored == 1
    assert t.state is State.FAILED


def test_secrets_are_redacted_from_error_frames() -> None:
    t = Translator(secrets=(Secret("app-secret-id"), Secret("key-1234567890")))
    (event,) = t.feed_raw(fs.error(10313, "app_id app-secret-id does not match key-1234567890"))
    assert isinstance(event, Failed)
    assert "app-secret-id" not in event.error.message
    assert "key-1234567890" not in event.error.message


def test_sid_is_taken_from_the_first_frame() -> None:
    t = Translator()
    events = t.feed_raw(fs.content(0, "a", status=0, sid="first"))
    assert events[0] == Started("first")
    t.feed_raw(fs.content(1, "b", sid="second"))
    assert t.sid == "first"


def test_feed_frame_takes_decoded_frames() -> None:
    t = Translator()
    assert t.feed_frame(decode_frame(fs.final(0, "x"))) == [
        Started(SID),
        ContentDelta("x"),
        Finish("stop"),
    ]
