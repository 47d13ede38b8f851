"""The event contract table (total, like the translator's) and the checker built on it."""

from __future__ import annotations

import pytest

from asgi_spark.errors import InternalError, UpstreamClosedError
from asgi_spark.events import (
    EVENT_TYPES,
    TERMINAL,
    TRANSITIONS,
    ContentDelta,
    ContractViolation,
    Event,
    EventContract,
    Failed,
    Finish,
    Phase,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
    fold,
)

FAILED = Failed(UpstreamClosedError("gone"))
SAMPLES: dict[type, Event] = {
    Started: Started("sid"),
    ContentDelta: ContentDelta("x"),
    ReasoningDelta: ReasoningDelta("r"),
    ToolCall: ToolCall(0, "call_1", "f", "{}"),
    Finish: Finish("stop"),
    Usage: Usage(1, 2, 3),
    Failed: FAILED,
}


def test_the_table_is_total() -> None:
    assert set(TRANSITIONS) == {(phase, t) for phase in Phase for t in EVENT_TYPES}


def test_terminal_phases_accept_nothing_but_usage_once() -> None:
    for phase in TERMINAL:
        for t in EVENT_TYPES:
            step = TRANSITIONS[phase, t]
            if (phase, t) == (Phase.FINISHED, Usage):
                assert step is Phase.REPORTED
            else:
                assert isinstance(step, str), (phase, t)


@pytest.mark.parametrize(
    "batches",
    [
        [[Started("s"), ContentDelta("a")], [ContentDelta("b"), Finish("stop"), Usage(1, 1, 2)]],
        [[Started("s"), ToolCall(0, "c", "f", "{}"), Finish("tool_calls")]],
        [[Started("s")], [ReasoningDelta("r")], [ContentDelta("a"), Finish("length")]],
        [[FAILED]],
        [[], [Started("s"), ContentDelta("a")], [FAILED]],
    ],
)
def test_valid_answers_pass(batches: list[list[Event]]) -> None:
    contract = EventContract("toy")
    for batch in batches:
        contract.check(batch)
    contract.check_end()
    assert contract.terminal


@pytest.mark.parametrize(
    ("batches", "rule"),
    [
        ([[ContentDelta("hi"), Finish("stop")]], "ContentDelta in phase new: an answer must begin"),
        ([[Started("s"), Started("s")]], "Started may come only once"),
        ([[Started("s"), Usage(1, 1, 2)]], "Usage may come only after Finish"),
        ([[Started("s"), Finish("stop"), ContentDelta("x")]], "after Finish only one Usage"),
        (
            [[Started("s"), Finish("stop"), Usage(1, 1, 2), Usage(1, 1, 2)]],
            "nothing may follow Usage",
        ),
        ([[FAILED, Started("s")]], "nothing may follow Failed"),
    ],
)
def test_violations_name_the_adapter_and_the_rule(batches: list[list[Event]], rule: str) -> None:
    contract = EventContract("toy_ws")
    with pytest.raises(ContractViolation) as info:
        for batch in batches:
            contract.check(batch)
    assert "adapter 'toy_ws' broke the event contract" in info.value.message
    assert rule in info.value.message
    assert isinstance(info.value, InternalError)
    assert info.value.code == "adapter_contract_violation"


@pytest.mark.parametrize("batches", [[], [[Started("s"), ContentDelta("x")]]])
def test_ending_without_a_terminal_event_is_a_violation(batches: list[list[Event]]) -> None:
    contract = EventContract("toy")
    for batch in batches:
        contract.check(batch)
    with pytest.raises(ContractViolation, match="must end with Finish or Failed"):
        contract.check_end()


def test_fold_sums_a_batch_up_in_order() -> None:
    batch = fold(
        [
            Started("sid"),
            ReasoningDelta("think "),
            ReasoningDelta("more"),
            ContentDelta("a"),
            ContentDelta("b"),
            ToolCall(0, "c0", "f", "{}"),
            ToolCall(1, "c1", "g", "{}"),
            Finish("tool_calls"),
            Usage(1, 2, 3),
        ]
    )
    assert batch.started == "sid"
    assert (batch.reasoning, batch.content) == ("think more", "ab")
    assert [c.id for c in batch.tool_calls] == ["c0", "c1"]
    assert (batch.finish, batch.usage, batch.failure) == ("tool_calls", Usage(1, 2, 3), None)
    assert batch.has_delta


def test_fold_of_usage_or_failure_alone_has_no_delta() -> None:
    assert not fold([Usage(1, 1, 2)]).has_delta
    assert fold([FAILED]).failure is FAILED.error
    assert not fold([]).has_delta
