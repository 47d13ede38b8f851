"""Spark frames → OpenAI events: the streaming translator, an explicit state machine.

Rules of this file (read them before changing it):

1. The translator is fed *inputs*: a received frame (:meth:`Translator.feed_raw` or
   :meth:`Translator.feed_frame`) or the end of the upstream connection
   (:meth:`Translator.feed_close`).  It returns the events the client must see.  It does no I/O.
2. Every input is first classified into exactly one :class:`Input`.  The pair
   ``(state, input)`` is then looked up in :data:`TRANSITIONS`, which names the steps to run and
   the next state.  The table is total: every pair has a row, so no frame is silently skipped
   and none raises.  Nothing else decides what the client sees.
3. ``DONE`` and ``FAILED`` are terminal: once there, the outcome never changes.  Frames after a
   terminal state are counted in :attr:`Translator.ignored` (the answer the client got stands).
4. An answer ends with exactly one terminal event: :class:`~asgi_spark.events.Finish`
   (optionally followed by :class:`~asgi_spark.events.Usage`) or
   :class:`~asgi_spark.events.Failed`.  Closing the connection before the final frame is a
   failure, never a normal finish.  Usage comes from the final frame only.
5. The same machine drives streaming and non-streaming answers, so they cannot disagree.

Defined outcomes for the awkward cases:

* a ``seq`` that does not increase → failure (``upstream_protocol_error``);
* output moderation (10014) after content → finish ``content_filter`` (the text already sent
  stands); before any content → failure 400 ``content_filter``;
* any other error frame → failure mapped by :mod:`.codes`;
* a plugins frame (web search, no ``choices``) → its references as citations (it starts the
  answer when it comes first); a frame that fits no shape → failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Final

import msgspec

from ...errors import GatewayError, InternalError, UpstreamClosedError, UpstreamProtocolError
from ...events import (
    Citation,
    ContentDelta,
    Event,
    Failed,
    Finish,
    FinishReason,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
)
from ...secrets import Secret, redact_upstream
from .codes import frame_error
from .frames import STATUS_LAST, FrameError, ResponseFrame, TextItem, UsageText, decode_frame

OUTPUT_MODERATION: Final = 10014


class State(Enum):
    AWAITING = "awaiting"  # connected, no answer frame yet
    STREAMING = "streaming"  # some answer frames seen, final frame not yet
    DONE = "done"  # finished normally (terminal)
    FAILED = "failed"  # failed (terminal)

    __hash__ = object.__hash__  # identity, as equality is (see Input)


class Input(Enum):
    CONTENT = "content"  # code 0, choices, not last
    FINAL = "final"  # code 0, choices, last
    FUNCTION_CALL = "function_call"  # code 0, choices with a function_call
    PLUGINS = "plugins"  # code 0, plugins and no choices
    ERROR = "error"  # code != 0
    FILTERED = "filtered"  # code 10014: output moderation
    MALFORMED = "malformed"  # undecodable, or no known shape
    OUT_OF_ORDER = "out_of_order"  # seq did not increase
    CLOSED = "closed"  # the connection ended

    # Identity, as equality is: Enum's own __hash__ is a Python call, one per frame here.
    __hash__ = object.__hash__


class Step(Enum):
    START = "start"
    CONTENT = "content"
    TOOL_CALL = "tool_call"
    CITE = "cite"
    FINISH = "finish"
    FINISH_FILTERED = "finish_filtered"
    FAIL = "fail"
    IGNORE = "ignore"


S, I, T = State, Input, Step  # noqa: E741 - short names keep the table readable
_ANSWER = (T.START, T.CONTENT)

#: (state, input) → (steps, next state).  Total over State x Input.
TRANSITIONS: Final[dict[tuple[State, Input], tuple[tuple[Step, ...], State]]] = {
    (S.AWAITING, I.CONTENT): (_ANSWER, S.STREAMING),
    (S.AWAITING, I.FINAL): ((*_ANSWER, T.FINISH), S.DONE),
    (S.AWAITING, I.FUNCTION_CALL): ((*_ANSWER, T.TOOL_CALL, T.FINISH), S.DONE),
    (S.AWAITING, I.PLUGINS): ((T.START, T.CITE), S.STREAMING),
    (S.AWAITING, I.ERROR): ((T.FAIL,), S.FAILED),
    (S.AWAITING, I.FILTERED): ((T.FAIL,), S.FAILED),
    (S.AWAITING, I.MALFORMED): ((T.FAIL,), S.FAILED),
    (S.AWAITING, I.OUT_OF_ORDER): ((T.FAIL,), S.FAILED),
    (S.AWAITING, I.CLOSED): ((T.FAIL,), S.FAILED),
    (S.STREAMING, I.CONTENT): ((T.CONTENT,), S.STREAMING),
    (S.STREAMING, I.FINAL): ((T.CONTENT, T.FINISH), S.DONE),
    (S.STREAMING, I.FUNCTION_CALL): ((T.CONTENT, T.TOOL_CALL, T.FINISH), S.DONE),
    (S.STREAMING, I.PLUGINS): ((T.CITE,), S.STREAMING),
    (S.STREAMING, I.ERROR): ((T.FAIL,), S.FAILED),
    (S.STREAMING, I.FILTERED): ((T.FINISH_FILTERED,), S.DONE),
    (S.STREAMING, I.MALFORMED): ((T.FAIL,), S.FAILED),
    (S.STREAMING, I.OUT_OF_ORDER): ((T.FAIL,), S.FAILED),
    (S.STREAMING, I.CLOSED): ((T.FAIL,), S.FAILED),
    **{(S.DONE, i): ((T.IGNORE,), S.DONE) for i in Input if i is not I.CLOSED},
    **{(S.FAILED, i): ((T.IGNORE,), S.FAILED) for i in Input if i is not I.CLOSED},
    (S.DONE, I.CLOSED): ((), S.DONE),
    (S.FAILED, I.CLOSED): ((), S.FAILED),
}

_ID_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")


class Observed(msgspec.Struct):
    """What one input carries, handed to every step of its row (read, never changed)."""

    items: Sequence[TextItem] = ()  # payload.choices.text
    plugins: Sequence[dict[str, Any]] = ()  # payload.plugins.text (web search)
    usage: UsageText | None = None  # payload.usage.text (final frame only)
    error: GatewayError | None = None  # set for every input whose row fails


class Translator:
    """Feeds on one Spark answer; see the module docstring for the rules.

    ``max_tokens`` is the completion budget that was requested: a final frame whose
    ``completion_tokens`` reaches it finishes with ``length``.  ``secrets`` (and any signed
    query) are redacted from upstream messages and close reasons.
    """

    __slots__ = (
        "_last_seq",
        "_row",
        "ignored",
        "max_tokens",
        "secrets",
        "sid",
        "state",
        "terminal",
    )

    def __init__(self, max_tokens: int | None = None, *, secrets: tuple[Secret, ...] = ()) -> None:
        self.state = State.AWAITING
        #: Whether ``state`` is DONE or FAILED (kept with it: read once per frame or more).
        self.terminal = False
        self._row = _ROWS[State.AWAITING]  # the state's rows: one lookup per input
        self.max_tokens = max_tokens
        self.secrets = secrets
        self.sid = ""
        self.ignored = 0
        self._last_seq = -1

    # ------------------------------------------------------------------------------ inputs

    def feed_raw(self, data: str | bytes) -> list[Event]:
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            malformed = FrameError(f"{exc.message}{self._sid_note(self.sid)}", sid=self.sid or None)
            return self._apply(Input.MALFORMED, None, malformed)
        kind, error = self._classify(frame)  # feed_frame's body: one call less per frame
        return self._apply(kind, frame, error)

    def feed_frame(self, frame: ResponseFrame) -> list[Event]:
        kind, error = self._classify(frame)
        return self._apply(kind, frame, error)

    def feed_close(self, code: int | None = None, reason: str = "") -> list[Event]:
        detail = f"close code {code}" if code is not None else "no close frame"
        if reason:
            detail += f", reason {redact_upstream(reason, *self.secrets)!r}"
        where = (
            "before answering" if self.state is State.AWAITING else "in the middle of the answer"
        )
        sid = f" (sid {self.sid})" if self.sid else ""
        error = UpstreamClosedError(
            f"Spark closed the connection {where} without a final frame{sid}: {detail}; "
            "the answer is incomplete",
            sid=self.sid or None,
        )
        return self._apply(Input.CLOSED, None, error)

    # ------------------------------------------------------------------------ the machine

    def _classify(self, frame: ResponseFrame) -> tuple[Input, GatewayError | None]:
        header = frame.header
        if header.code == OUTPUT_MODERATION:
            return Input.FILTERED, self._frame_error(frame)
        if header.code != 0:
            return Input.ERROR, self._frame_error(frame)
        payload = frame.payload
        choices = payload.choices if payload else None
        if choices is None:
            if payload is not None and payload.plugins is not None:
                return Input.PLUGINS, None
            return Input.MALFORMED, UpstreamProtocolError(
                f"Spark sent a frame without choices or plugins{self._sid_note(header.sid)}",
                sid=header.sid or None,
            )
        if choices.seq <= self._last_seq:
            return Input.OUT_OF_ORDER, UpstreamProtocolError(
                f"Spark frame seq went from {self._last_seq} to {choices.seq}"
                f"{self._sid_note(header.sid)}",
                sid=header.sid or None,
            )
        for item in choices.text:
            if item.function_call is not None:
                return Input.FUNCTION_CALL, None
        if choices.status == STATUS_LAST:
            return Input.FINAL, None
        return Input.CONTENT, None

    def _apply(
        self, kind: Input, frame: ResponseFrame | None, error: GatewayError | None
    ) -> list[Event]:
        steps, next_state, terminal = self._row[kind]  # TRANSITIONS, steps as functions
        payload = frame.payload if frame is not None else None
        choices = payload.choices if payload is not None else None
        if choices is not None and choices.seq > self._last_seq:
            self._last_seq = choices.seq
        if frame is not None and not self.sid and frame.header.sid:
            self.sid = frame.header.sid
        seen = Observed(
            choices.text if choices is not None else (),
            payload.plugins.text if payload is not None and payload.plugins else (),
            payload.usage.text if payload is not None and payload.usage else None,
            error,
        )
        events: list[Event] = []
        for step in steps:
            step(self, seen, events)
        self.state, self.terminal, self._row = next_state, terminal, _ROWS[next_state]
        return events

    # ------------------------------------------------------------------------------ steps
    # Each step reads what the input carries (``seen``) and appends the client's events.

    def _start(self, seen: Observed, events: list[Event]) -> None:
        events.append(Started(response_id=self.sid))

    def _content(self, seen: Observed, events: list[Event]) -> None:
        for item in seen.items:
            if item.reasoning_content:
                events.append(ReasoningDelta(item.reasoning_content))
            if item.content:
                events.append(ContentDelta(item.content))

    def _tool_call(self, seen: Observed, events: list[Event]) -> None:
        calls = [item.function_call for item in seen.items if item.function_call is not None]
        base = "call_" + _ID_UNSAFE.sub("_", self.sid or "spark")
        for index, call in enumerate(calls):
            call_id = base if index == 0 else f"{base}_{index}"
            events.append(
                ToolCall(index=index, id=call_id, name=call.name, arguments=call.arguments)
            )

    def _cite(self, seen: Observed, events: list[Event]) -> None:
        events.extend(citations(seen.plugins))

    def _finish(self, seen: Observed, events: list[Event]) -> None:
        usage = seen.usage
        reason: FinishReason = "stop"
        if any(item.function_call for item in seen.items):
            reason = "tool_calls"
        elif usage is not None and self.max_tokens and usage.completion_tokens >= self.max_tokens:
            reason = "length"
        events.append(Finish(reason))
        if usage is not None:
            events.append(Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens))

    def _finish_filtered(self, seen: Observed, events: list[Event]) -> None:
        events.append(Finish("content_filter"))

    def _fail(self, seen: Observed, events: list[Event]) -> None:
        # Every input whose row has FAIL is classified with its error (a test checks it).
        events.append(Failed(seen.error or InternalError("the translator failed without a cause")))

    def _ignore(self, seen: Observed, events: list[Event]) -> None:
        self.ignored += 1

    # ---------------------------------------------------------------------------- helpers

    def _frame_error(self, frame: ResponseFrame) -> GatewayError:
        h = frame.header
        return frame_error(h.code, h.message, h.sid, secrets=self.secrets)

    @staticmethod
    def _sid_note(sid: str) -> str:
        return f" (sid {sid})" if sid else ""


_StepFn = Callable[[Translator, Observed, list[Event]], None]

_STEPS: Final[dict[Step, _StepFn]] = {
    Step.START: Translator._start,
    Step.CONTENT: Translator._content,
    Step.TOOL_CALL: Translator._tool_call,
    Step.CITE: Translator._cite,
    Step.FINISH: Translator._finish,
    Step.FINISH_FILTERED: Translator._finish_filtered,
    Step.FAIL: Translator._fail,
    Step.IGNORE: Translator._ignore,
}


#: :data:`TRANSITIONS` by state, then input, with each step as its function and whether the
#: next state is terminal (one dictionary lookup per input on the hot path, no tuple key).
_ROWS: Final[dict[State, dict[Input, tuple[tuple[_StepFn, ...], State, bool]]]] = {
    state: {
        kind: (
            tuple(_STEPS[step] for step in steps),
            next_state,
            next_state in (State.DONE, State.FAILED),
        )
        for (row_state, kind), (steps, next_state) in TRANSITIONS.items()
        if row_state is state
    }
    for state in State
}


def citations(plugins: Sequence[dict[str, Any]]) -> list[Event]:
    """The references of Spark's web-search plugin items (``content`` is a JSON text holding a
    list of ``{index, url, title}``); items of other shapes carry none."""
    found: list[Event] = []
    for plugin in plugins:
        content = plugin.get("content")
        try:
            references = json.loads(content) if isinstance(content, str) else None
        except ValueError:
            continue
        for ref in references if isinstance(references, list) else ():
            if isinstance(ref, dict) and isinstance(ref.get("url"), str):
                index = ref.get("index")
                found.append(
                    Citation(
                        index=index if isinstance(index, int) else len(found) + 1,
                        url=ref["url"],
                        title=str(ref.get("title") or ref["url"]),
                    )
                )
    return found
