"""OpenAI-level events: what an adapter emits, in what order, and what one batch amounts to.

The vocabulary: :class:`Connected`, :class:`Started`, :class:`ContentDelta`,
:class:`ReasoningDelta`, :class:`ToolCall`, :class:`Finish`, :class:`Usage`, :class:`Failed`.
An adapter's answer is a sequence of *batches* of events (one batch per upstream frame, or per
group of frames that were already waiting together when the adapter read them).  Events are
frozen ``msgspec`` Structs (made in C: several per upstream frame); change one with
``msgspec.structs.replace``.

:class:`Connected` is information for the request's record, not for the client: how the
upstream connection was had (its connect time, whether it came warm from a pool) and when the
request went out.  The innermost layer (:func:`asgi_spark.pipeline.adapter_call`) copies it
into the :class:`~asgi_spark.pipeline.RequestContext`; writers and encoders ignore it.

The contract, as a table (:data:`TRANSITIONS`, total over :class:`Phase` x event type, checked
by a test like the translator's):

* ``NEW``: nothing yet.  :class:`Connected` may come (the phase stays ``NEW``);
  :class:`Started` opens the answer (``OPEN``); :class:`Failed` ends it before it began
  (``FAILED``).
* ``OPEN``: deltas, tool calls and citations; :class:`Finish` (``FINISHED``) or
  :class:`Failed` ends it.
* ``FINISHED``: at most one :class:`Usage` (``REPORTED``).
* ``REPORTED`` and ``FAILED`` accept nothing more.

Any other pair is a violation, and so is a source that ends in ``NEW`` or ``OPEN``.
:class:`EventContract` checks batches against the table; the gateway checks every adapter's
events with it at the seam, so a broken adapter becomes a named
:class:`~asgi_spark.errors.InternalError`, never malformed output.

:func:`fold` sums one batch up (:class:`Batch`); both the stream encoder and the aggregator read
that, so a streamed and a non-streamed answer cannot disagree.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal

import msgspec

from .errors import GatewayError, InternalError

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class Connected(msgspec.Struct, frozen=True, gc=False):
    """The request went out on an upstream connection.

    ``connect`` is the seconds spent opening the connection (0 when it came from a warm pool),
    ``pooled`` whether it did, ``sent_at`` the ``time.monotonic()`` at which the request was
    sent (what the upstream's time is measured from)."""

    connect: float
    pooled: bool
    sent_at: float


class Started(msgspec.Struct, frozen=True, gc=False):
    """The upstream accepted the request; ``response_id`` identifies the answer."""

    response_id: str


class ContentDelta(msgspec.Struct, frozen=True, gc=False):
    text: str
    choice: int = 0  # which of the request's n answers (0 unless n > 1)


class ReasoningDelta(msgspec.Struct, frozen=True, gc=False):
    text: str
    choice: int = 0


class ToolCall(msgspec.Struct, frozen=True, gc=False):
    index: int
    id: str
    name: str
    arguments: str
    choice: int = 0


class Citation(msgspec.Struct, frozen=True, gc=False):
    """A web source the answer draws on (Spark's web-search references)."""

    index: int
    url: str
    title: str
    choice: int = 0


class Finish(msgspec.Struct, frozen=True, gc=False):
    reason: FinishReason
    choice: int = 0


class Usage(msgspec.Struct, frozen=True, gc=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Failed(msgspec.Struct, frozen=True):
    error: GatewayError


Event = (
    Connected
    | Started
    | ContentDelta
    | ReasoningDelta
    | ToolCall
    | Citation
    | Finish
    | Usage
    | Failed
)
EVENT_TYPES: Final = (
    Connected,
    Started,
    ContentDelta,
    ReasoningDelta,
    ToolCall,
    Citation,
    Finish,
    Usage,
    Failed,
)


# ------------------------------------------------------------------------------ contract


class Phase(Enum):
    NEW = "new"
    OPEN = "open"
    FINISHED = "finished"
    REPORTED = "reported"  # finished, and usage given
    FAILED = "failed"

    # Identity, as equality is: Enum's own __hash__ is a Python call, one per batch here.
    __hash__ = object.__hash__


TERMINAL: Final = frozenset({Phase.FINISHED, Phase.REPORTED, Phase.FAILED})

P = Phase
#: (phase, event type) → next phase, or the rule the event breaks.  Total over Phase x types.
TRANSITIONS: Final[dict[tuple[Phase, type], Phase | str]] = {
    (P.NEW, Connected): P.NEW,
    (P.NEW, Started): P.OPEN,
    (P.NEW, Failed): P.FAILED,
    **{
        (P.NEW, t): "an answer must begin with Started (or fail)"
        for t in (ContentDelta, ReasoningDelta, ToolCall, Citation, Finish, Usage)
    },
    (P.OPEN, Connected): "Connected may come only before Started",
    (P.OPEN, Started): "Started may come only once",
    (P.OPEN, ContentDelta): P.OPEN,
    (P.OPEN, ReasoningDelta): P.OPEN,
    (P.OPEN, ToolCall): P.OPEN,
    (P.OPEN, Citation): P.OPEN,
    (P.OPEN, Finish): P.FINISHED,
    (P.OPEN, Usage): "Usage may come only after Finish",
    (P.OPEN, Failed): P.FAILED,
    (P.FINISHED, Usage): P.REPORTED,
    **{
        (P.FINISHED, t): "after Finish only one Usage may follow"
        for t in (
            Connected,
            Started,
            ContentDelta,
            ReasoningDelta,
            ToolCall,
            Citation,
            Finish,
            Failed,
        )
    },
    **{(P.REPORTED, t): "nothing may follow Usage" for t in EVENT_TYPES},
    **{(P.FAILED, t): "nothing may follow Failed" for t in EVENT_TYPES},
}


class ContractViolation(InternalError):
    """An adapter broke the event contract; the message names the adapter and the rule."""

    default_code = "adapter_contract_violation"


_ROWS: Final[dict[Phase, dict[type, Phase | str]]] = {
    phase: {kind: step for (row, kind), step in TRANSITIONS.items() if row is phase}
    for phase in Phase
}


class EventContract:
    """Checks one answer's batches against :data:`TRANSITIONS`."""

    __slots__ = ("adapter", "phase")

    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self.phase = Phase.NEW

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    def check(self, batch: list[Event]) -> None:
        """Advance over ``batch``, or raise :class:`ContractViolation`."""
        phase = self.phase
        row = _ROWS[phase]  # TRANSITIONS by phase: per event, one lookup by type
        for event in batch:
            step = row[type(event)]
            if isinstance(step, str):
                raise self._violation(f"{type(event).__name__} in phase {phase.value}: {step}")
            if step is not phase:
                phase = step
                row = _ROWS[phase]
        self.phase = phase

    def check_end(self) -> None:
        """The source ended: raise unless the answer reached a terminal phase."""
        if self.phase not in TERMINAL:
            raise self._violation(
                f"the events ended in phase {self.phase.value}: an answer must end with "
                "Finish or Failed"
            )

    def _violation(self, rule: str) -> ContractViolation:
        return ContractViolation(f"adapter {self.adapter!r} broke the event contract: {rule}")


# ---------------------------------------------------------------------------------- fold


class Batch(msgspec.Struct):
    """What one batch amounts to, in the order a client sees it: the start, one delta (content,
    reasoning, tool calls), the finish, the usage, the failure."""

    started: str | None = None
    choice: int = 0  # a batch holds the events of one answer (n > 1: several batches)
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    citations: list[Citation] = msgspec.field(default_factory=list)
    finish: FinishReason | None = None
    usage: Usage | None = None
    failure: GatewayError | None = None
    connected: Connected | None = None

    @property
    def has_delta(self) -> bool:
        return (
            self.started is not None
            or self.content is not None
            or self.reasoning is not None
            or bool(self.tool_calls)
            or bool(self.citations)
            or self.finish is not None
        )


def fold(batch: list[Event]) -> Batch:
    """Sum up a batch that follows the contract (deltas are concatenated in order)."""
    out = Batch()
    for event in batch:
        if isinstance(event, ContentDelta):
            out.content = event.text if out.content is None else out.content + event.text
            out.choice = event.choice
        elif isinstance(event, ReasoningDelta):
            out.reasoning = event.text if out.reasoning is None else out.reasoning + event.text
            out.choice = event.choice
        elif isinstance(event, ToolCall):
            out.tool_calls.append(event)
            out.choice = event.choice
        elif isinstance(event, Citation):
            out.citations.append(event)
            out.choice = event.choice
        elif isinstance(event, Started):
            out.started = event.response_id
        elif isinstance(event, Finish):
            out.finish = event.reason
            out.choice = event.choice
        elif isinstance(event, Usage):
            out.usage = event
        elif isinstance(event, Failed):
            out.failure = event.error
        else:
            out.connected = event
    return out


__all__ = [
    "EVENT_TYPES",
    "TERMINAL",
    "TRANSITIONS",
    "Batch",
    "Citation",
    "Connected",
    "ContentDelta",
    "ContractViolation",
    "Event",
    "EventContract",
    "Failed",
    "Finish",
    "FinishReason",
    "Phase",
    "ReasoningDelta",
    "Started",
    "ToolCall",
    "Usage",
    "fold",
]
