"""Events → OpenAI bytes: :class:`StreamEncoder` for SSE and :class:`Aggregator` for one body.

Both consume the same events from the same translator, so a streamed and a non-streamed answer
to the same upstream frames cannot disagree.

Streaming shape (validated in tests against ``CreateChatCompletionStreamResponse``): every chunk
has the same ``id`` (``chatcmpl-`` + upstream session id) and ``created``; one chunk per batch of
events (one upstream frame); the first chunk's delta carries ``role``; the chunk that carries
the last content also carries ``finish_reason``; with ``stream_options.include_usage`` every
chunk has ``"usage": null`` and a final chunk with ``choices: []`` carries the usage; then
``data: [DONE]``.  A failure after the first byte is one ``data: {"error": {...}}`` event and
the stream ends without ``[DONE]``.
"""

from __future__ import annotations

import uuid

import msgspec

from . import sse
from .errors import GatewayError, error_body
from .events import Batch, Citation, Event, Usage, fold
from .openai_types import (
    Annotation,
    ChatCompletion,
    Choice,
    CompletionUsage,
    Delta,
    ResponseMessage,
    ResponseToolCall,
    ToolCallChunk,
    ToolCallFunction,
    UrlCitation,
)

_encoder = msgspec.json.Encoder()


def completion_id(response_id: str) -> str:
    return "chatcmpl-" + (response_id or uuid.uuid4().hex)


class StreamEncoder:
    """Turns batches of events into SSE bytes.  Call :meth:`encode` once per upstream frame."""

    __slots__ = ("_created", "_include_usage", "_model", "_prefix", "_role_sent", "_suffix", "id")

    def __init__(self, model: str, created: int, *, include_usage: bool = False) -> None:
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._role_sent: set[int] = set()
        self._prefix = b""
        self._suffix = b',"usage":null}' if include_usage else b"}"
        self.id = ""

    def _start(self, response_id: str) -> None:
        self.id = completion_id(response_id)
        head = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }
        self._prefix = _encoder.encode(head)[:-1] + b',"choices":[{"index":'

    def encode(self, events: list[Event]) -> bytes:
        """SSE bytes for one batch of events (possibly empty); the batch follows the contract."""
        return self.encode_batch(fold(events))

    def encode_batch(self, batch: Batch) -> bytes:
        """SSE bytes for one folded batch (:func:`~asgi_spark.events.fold`)."""
        out: list[bytes] = []
        if batch.started is not None:
            self._start(batch.started)
        if batch.has_delta:
            out.append(self._chunk(_delta(batch), batch.finish, batch.choice))
        if batch.usage is not None and self._include_usage:
            out.append(self._usage_chunk(batch.usage))
        if batch.failure is not None:
            out.append(self.error(batch.failure))
        return b"".join(out)

    def _chunk(self, delta: Delta, finish: str | None, choice: int = 0) -> bytes:
        """One chunk, spliced from bytes: equal byte for byte to encoding
        :class:`~asgi_spark.openai_types.ChatCompletionChunk` (a test compares them)."""
        if choice not in self._role_sent:  # the first chunk of each choice names the role
            self._role_sent.add(choice)
            delta.role = "assistant"
            if delta.content is None and delta.tool_calls is None:
                delta.content = ""
        reason = b"null" if finish is None else b'"' + finish.encode() + b'"'
        return sse.event(
            b"".join(
                (
                    self._prefix,
                    b"%d" % choice,
                    b',"delta":',
                    _encoder.encode(delta),
                    b',"logprobs":null,"finish_reason":',
                    reason,
                    b"}]",
                    self._suffix,
                )
            )
        )

    def _usage_chunk(self, usage: Usage) -> bytes:
        body = self._prefix.split(b',"choices":', 1)[0] + b',"choices":[],"usage":'
        return sse.event(body + _encoder.encode(_usage(usage)) + b"}")

    @staticmethod
    def error(error: GatewayError) -> bytes:
        return sse.event(error_body(error))

    @staticmethod
    def done() -> bytes:
        return sse.DONE


def _annotation(citation: Citation, start: int, end: int) -> Annotation:
    return Annotation(
        url_citation=UrlCitation(
            url=citation.url, title=citation.title, start_index=start, end_index=end
        )
    )


def citation_annotations(citations: list[Citation], content: str) -> list[Annotation]:
    """Citations as ``url_citation`` annotations over ``content``: the span of the marker
    ``[n]`` when the content has one, else the whole content."""
    out = []
    for citation in citations:
        marker = f"[{citation.index}]"
        at = content.find(marker)
        start, end = (at, at + len(marker)) if at >= 0 else (0, len(content))
        out.append(_annotation(citation, start, end))
    return out


def _delta(batch: Batch) -> Delta:
    citations, calls = batch.citations, batch.tool_calls
    return Delta(
        # in a stream the citations come before the content they refer to: indices 0
        annotations=[_annotation(c, 0, 0) for c in citations] if citations else None,
        content=batch.content,
        reasoning_content=batch.reasoning,
        tool_calls=[
            ToolCallChunk(
                index=call.index,
                id=call.id,
                type="function",
                function=ToolCallFunction(name=call.name, arguments=call.arguments),
            )
            for call in calls
        ]
        if calls
        else None,
    )


def _usage(usage: Usage) -> CompletionUsage:
    return CompletionUsage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


class _Answer:
    """One choice's parts, as they arrive."""

    __slots__ = ("citations", "content", "finish", "reasoning", "tools")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tools: list[ResponseToolCall] = []
        self.citations: list[Citation] = []
        self.finish: str | None = None

    def choice(self, index: int) -> Choice:
        if self.finish is None:
            raise RuntimeError("the answer has not finished")  # a bug, not an upstream fault
        content = "".join(self.content)
        message = ResponseMessage(
            role="assistant",
            content=content if content or not self.tools else None,
            tool_calls=self.tools or msgspec.UNSET,
            reasoning_content="".join(self.reasoning) or msgspec.UNSET,
            annotations=citation_annotations(self.citations, content) or msgspec.UNSET,
        )
        return Choice(index=index, message=message, finish_reason=self.finish)


class Aggregator:
    """Collects events into one ``chat.completion`` object (non-streaming answers); with
    ``n`` > 1 one choice per answer, by the events' ``choice``."""

    __slots__ = ("_answers", "_created", "_error", "_model", "_usage", "id")

    def __init__(self, model: str, created: int) -> None:
        self._model = model
        self._created = created
        self._answers: dict[int, _Answer] = {}
        self._usage: CompletionUsage | None = None
        self._error: GatewayError | None = None
        self.id = ""

    def feed(self, events: list[Event]) -> None:
        self.add(fold(events))

    def add(self, batch: Batch) -> None:
        """Take in one folded batch (:func:`~asgi_spark.events.fold`)."""
        if batch.started is not None:
            self.id = completion_id(batch.started)
        if batch.has_delta:
            answer = self._answers.setdefault(batch.choice, _Answer())
            if batch.content is not None:
                answer.content.append(batch.content)
            if batch.reasoning is not None:
                answer.reasoning.append(batch.reasoning)
            answer.tools.extend(
                ResponseToolCall(
                    id=call.id, function=ToolCallFunction(name=call.name, arguments=call.arguments)
                )
                for call in batch.tool_calls
            )
            answer.citations.extend(batch.citations)
            if batch.finish is not None:
                answer.finish = batch.finish
        if batch.usage is not None:
            self._usage = _usage(batch.usage)
        if batch.failure is not None:
            self._error = batch.failure

    def result(self) -> ChatCompletion:
        """The completion, or raise the failure the events ended with."""
        if self._error is not None:
            raise self._error
        if not self._answers:
            raise RuntimeError("the answer has not finished")  # a bug, not an upstream fault
        return ChatCompletion(
            id=self.id or completion_id(""),
            created=self._created,
            model=self._model,
            choices=[self._answers[i].choice(i) for i in sorted(self._answers)],
            usage=self._usage or msgspec.UNSET,
        )


def encode_completion(completion: ChatCompletion) -> bytes:
    return _encoder.encode(completion)
