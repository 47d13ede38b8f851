"""Events → a Responses API answer: the ``response`` object and its stream events.

:class:`ResponseBuilder` reads the folded batches of one answer (:func:`~asgi_spark.events.fold`)
and keeps the ``response`` object up to date; with ``stream=True`` it also returns, batch by
batch, the documented stream events, so a streamed and a non-streamed answer cannot disagree.
The sequence (``sequence_number`` counts from 0):

* start: ``response.created``, ``response.in_progress`` (status ``in_progress``, no output);
* output items open in the order their deltas arrive: reasoning (Spark X1) is a ``reasoning``
  item (``output_item.added``, ``reasoning_text.delta``...), text a ``message`` item
  (``output_item.added``, ``content_part.added``, ``output_text.delta``...), and each function
  call a ``function_call`` item (``output_item.added``, one ``function_call_arguments.delta``
  with the whole arguments, as Spark sends a call in one frame, ``...arguments.done``,
  ``output_item.done``).  An item is closed (its ``...done`` events) when another kind begins
  or the answer finishes; web sources (Spark's web search) become ``url_citation`` annotations
  of the message's text when it is closed (``output_text.annotation.added``, then
  ``output_text.done``);
* finish: ``response.completed`` (finish ``stop`` or ``tool_calls``) or ``response.incomplete``
  (``length`` → ``max_output_tokens``, ``content_filter``), with the whole response and usage.
  An answer with no output at all gets one empty message, so ``output_text`` is ``""``;
* failure after the start: an ``error`` event (the gateway's code and message), then
  ``response.failed`` (``error.code`` from OpenAI's list: ``rate_limit_exceeded``,
  ``invalid_prompt`` or ``server_error``).
"""

from __future__ import annotations

import msgspec

from .completion import citation_annotations
from .errors import GatewayError, InvalidRequestError, RateLimitError
from .events import Batch, Citation, FinishReason, ToolCall
from .responses_types import (
    AnnotationAdded,
    ArgumentsDelta,
    ArgumentsDone,
    Completed,
    Created,
    ErrorEvent,
    FailedEvent,
    FunctionCall,
    Incomplete,
    IncompleteDetails,
    InProgress,
    ItemAdded,
    ItemDone,
    OutputMessage,
    OutputText,
    PartAdded,
    PartDone,
    Reasoning,
    ReasoningDelta,
    ReasoningDone,
    ReasoningText,
    Response,
    ResponseError,
    ResponseStatus,
    ResponseUsage,
    StreamEvent,
    TextDelta,
    TextDone,
    UrlCitation,
)

_INCOMPLETE: dict[FinishReason, str] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


class ResponseBuilder:
    """One answer as a ``response`` object (:attr:`response`) and, when streaming, events."""

    __slots__ = ("_citations", "_item_base", "_open", "_seq", "response", "stream")

    def __init__(self, response: Response, *, stream: bool) -> None:
        #: The answer so far; ``status`` is ``in_progress`` until :meth:`finish` or :meth:`fail`.
        self.response = response
        self.stream = stream
        self._seq = 0
        self._open: OutputMessage | Reasoning | None = None
        #: Web sources (Spark's web search) for the next message's text.
        self._citations: list[Citation] = []
        self._item_base = response.id.removeprefix("resp_")

    def _event(self, event: StreamEvent, out: list[StreamEvent]) -> None:
        if self.stream:
            event.sequence_number = self._seq
            self._seq += 1
            out.append(event)

    def _snapshot(self) -> Response:
        """A copy of the response as it is now (later changes must not alter sent events)."""
        return msgspec.structs.replace(self.response, output=list(self.response.output))

    def start(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        self._event(Created(response=self._snapshot()), out)
        self._event(InProgress(response=self._snapshot()), out)
        return out

    # ----------------------------------------------------------------------------- items

    def _item_id(self, prefix: str) -> str:
        return f"{prefix}_{self._item_base}{len(self.response.output):02d}"

    def _close(self, status: ResponseStatus, out: list[StreamEvent]) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        index = self.response.output.index(item)
        item.status = status
        if isinstance(item, OutputMessage):
            part = item.content[0]
            self._annotate(item, index, out)
            self._event(
                TextDone(item_id=item.id, output_index=index, content_index=0, text=part.text), out
            )
            self._event(
                PartDone(
                    item_id=item.id, output_index=index, content_index=0, part=_copy_text(part)
                ),
                out,
            )
        else:
            text = item.content[0].text
            self._event(
                ReasoningDone(item_id=item.id, output_index=index, content_index=0, text=text), out
            )
        self._event(ItemDone(output_index=index, item=_copy_item(item)), out)

    def _annotate(self, item: OutputMessage, index: int, out: list[StreamEvent]) -> None:
        """The citations as ``url_citation`` annotations of the message's text (the span of
        the marker ``[n]`` when the text has one, else the whole text)."""
        citations, self._citations = self._citations, []
        part = item.content[0]
        for note in citation_annotations(citations, part.text):
            c = note.url_citation
            annotation = UrlCitation(
                url=c.url, title=c.title, start_index=c.start_index, end_index=c.end_index
            )
            part.annotations.append(annotation)
            self._event(
                AnnotationAdded(
                    item_id=item.id,
                    output_index=index,
                    content_index=0,
                    annotation_index=len(part.annotations) - 1,
                    annotation=annotation,
                ),
                out,
            )

    def _text(self, delta: str, out: list[StreamEvent]) -> None:
        item = self._open
        if not isinstance(item, OutputMessage):
            self._close("completed", out)
            item = OutputMessage(id=self._item_id("msg"), status="in_progress")
            self.response.output.append(item)
            self._open = item
            index = len(self.response.output) - 1
            self._event(ItemAdded(output_index=index, item=_copy_item(item)), out)
            item.content.append(OutputText(text=""))
            self._event(
                PartAdded(
                    item_id=item.id, output_index=index, content_index=0, part=OutputText(text="")
                ),
                out,
            )
        index = len(self.response.output) - 1
        item.content[0].text += delta
        self._event(
            TextDelta(item_id=item.id, output_index=index, content_index=0, delta=delta), out
        )

    def _reasoning(self, delta: str, out: list[StreamEvent]) -> None:
        item = self._open
        if not isinstance(item, Reasoning):
            self._close("completed", out)
            item = Reasoning(id=self._item_id("rs"))
            self.response.output.append(item)
            self._open = item
            self._event(
                ItemAdded(output_index=len(self.response.output) - 1, item=_copy_item(item)), out
            )
            item.content.append(ReasoningText(text=""))
        index = len(self.response.output) - 1
        item.content[0].text += delta
        self._event(
            ReasoningDelta(item_id=item.id, output_index=index, content_index=0, delta=delta), out
        )

    def _call(self, call: ToolCall, out: list[StreamEvent]) -> None:
        self._close("completed", out)
        item = FunctionCall(
            id=self._item_id("fc"),
            call_id=call.id,
            name=call.name,
            arguments="",
            status="in_progress",
        )
        self.response.output.append(item)
        index = len(self.response.output) - 1
        self._event(ItemAdded(output_index=index, item=_copy_item(item)), out)
        item.arguments = call.arguments
        self._event(ArgumentsDelta(item_id=item.id, output_index=index, delta=call.arguments), out)
        self._event(
            ArgumentsDone(
                item_id=item.id, name=call.name, output_index=index, arguments=call.arguments
            ),
            out,
        )
        item.status = "completed"
        self._event(ItemDone(output_index=index, item=_copy_item(item)), out)

    # ----------------------------------------------------------------------------- batches

    def add(self, batch: Batch) -> list[StreamEvent]:
        """Take in one folded batch (after :meth:`start`); the events it gives, if streaming.

        A batch with a finish finishes the response (:meth:`finish` is then not needed)."""
        out: list[StreamEvent] = []
        self._citations.extend(batch.citations)
        if batch.reasoning:
            self._reasoning(batch.reasoning, out)
        if batch.content:
            self._text(batch.content, out)
        for call in batch.tool_calls:
            self._call(call, out)
        if batch.usage is not None:
            self.response.usage = ResponseUsage(
                input_tokens=batch.usage.prompt_tokens,
                output_tokens=batch.usage.completion_tokens,
                total_tokens=batch.usage.total_tokens,
            )
        if batch.finish is not None:
            self._finish(batch.finish)
        return out

    def _finish(self, reason: FinishReason) -> None:
        incomplete = _INCOMPLETE.get(reason)
        self.response.status = "incomplete" if incomplete else "completed"
        if incomplete:
            self.response.incomplete_details = IncompleteDetails(reason=incomplete)

    def terminal(self, completed_at: int) -> list[StreamEvent]:
        """Close the open item and end: ``response.completed`` or ``response.incomplete``."""
        out: list[StreamEvent] = []
        status = self.response.status
        if not self.response.output or (self._citations and self._open is None):
            self._text("", out)
        self._close("incomplete" if status == "incomplete" else "completed", out)
        self.response.completed_at = completed_at
        final = self._snapshot()
        self._event(
            Incomplete(response=final) if status == "incomplete" else Completed(response=final), out
        )
        return out

    def fail(self, error: GatewayError) -> list[StreamEvent]:
        """End with ``error`` (after the start): an ``error`` event, then ``response.failed``."""
        out: list[StreamEvent] = []
        self._close("incomplete", out)
        self.response.status = "failed"
        self.response.error = ResponseError(code=_failure_code(error), message=error.message)
        self._event(
            ErrorEvent(code=error.code or error.type, message=error.message, param=error.param), out
        )
        self._event(FailedEvent(response=self._snapshot()), out)
        return out


def _failure_code(error: GatewayError) -> str:
    """``error`` as one of the codes OpenAI's ``ResponseError`` allows."""
    if isinstance(error, RateLimitError):
        return "rate_limit_exceeded"
    if isinstance(error, InvalidRequestError):
        return "invalid_prompt"
    return "server_error"


def _copy_text(part: OutputText) -> OutputText:
    return OutputText(text=part.text, annotations=list(part.annotations))


def _copy_item(
    item: OutputMessage | Reasoning | FunctionCall,
) -> OutputMessage | Reasoning | FunctionCall:
    """A copy for an event: the item keeps changing after the event is made."""
    if isinstance(item, OutputMessage):
        return OutputMessage(
            id=item.id, status=item.status, content=[_copy_text(p) for p in item.content]
        )
    if isinstance(item, Reasoning):
        return Reasoning(
            id=item.id,
            status=item.status,
            content=[ReasoningText(text=p.text) for p in item.content],
        )
    return FunctionCall(
        id=item.id,
        call_id=item.call_id,
        name=item.name,
        arguments=item.arguments,
        status=item.status,
    )


__all__ = ["ResponseBuilder"]
