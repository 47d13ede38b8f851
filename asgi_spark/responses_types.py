"""OpenAI Responses API wire types (``POST /v1/responses``) as msgspec Structs.

The request is decoded leniently like a chat request (unknown fields are ignored, wrong types
are 400s naming the field); its ``input`` items stay JSON objects here and are read one by one
by :mod:`.responses_request`, so an error names ``input[3].call_id``.  The answer (a
``response`` object and the stream's events) is encoded from these Structs only; the events are
a tagged union on ``type``, which msgspec writes first, as OpenAI does.

:data:`~asgi_spark.field_support.RESPONSES_FIELDS` says what the gateway does with each field.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

# ------------------------------------------------------------------------------- request


class TextParam(msgspec.Struct, kw_only=True):
    format: dict[str, Any] | None = None
    verbosity: str | None = None


class ResponsesRequest(msgspec.Struct, kw_only=True):
    model: str
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    truncation: str | None = None
    service_tier: str | None = None
    top_logprobs: int | None = None
    background: bool | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    max_tool_calls: int | None = None
    #: Spark's own options (``extra_body={"spark": {...}}``), passed on as for Chat.
    spark: Any = None


class MessageItem(msgspec.Struct, kw_only=True):
    """A message of ``input`` (``EasyInputMessage``, ``InputMessage`` or a previous answer's
    ``OutputMessage``)."""

    role: str
    content: str | list[dict[str, Any]]


class FunctionCallItem(msgspec.Struct, kw_only=True):
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(msgspec.Struct, kw_only=True):
    call_id: str
    output: str | list[dict[str, Any]]


# ------------------------------------------------------------------------------ response

ResponseStatus = Literal["completed", "incomplete", "failed", "in_progress"]


class UrlCitation(msgspec.Struct, tag="url_citation", tag_field="type", kw_only=True):
    url: str
    title: str
    start_index: int
    end_index: int


class OutputText(msgspec.Struct, tag="output_text", tag_field="type"):
    text: str
    annotations: list[UrlCitation] = msgspec.field(default_factory=list)
    logprobs: list[Any] = msgspec.field(default_factory=list)


class OutputMessage(msgspec.Struct, tag="message", tag_field="type", kw_only=True):
    id: str
    status: ResponseStatus
    role: str = "assistant"
    content: list[OutputText] = msgspec.field(default_factory=list)


class FunctionCall(msgspec.Struct, tag="function_call", tag_field="type", kw_only=True):
    id: str
    call_id: str
    name: str
    arguments: str
    status: ResponseStatus


class ReasoningText(msgspec.Struct, tag="reasoning_text", tag_field="type"):
    text: str


class Reasoning(msgspec.Struct, tag="reasoning", tag_field="type", kw_only=True):
    id: str
    summary: list[Any] = msgspec.field(default_factory=list)
    content: list[ReasoningText] = msgspec.field(default_factory=list)
    status: ResponseStatus = "in_progress"


OutputItem = OutputMessage | FunctionCall | Reasoning


class InputTokensDetails(msgspec.Struct):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class ResponseUsage(msgspec.Struct, kw_only=True):
    input_tokens: int
    input_tokens_details: InputTokensDetails = msgspec.field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = msgspec.field(default_factory=OutputTokensDetails)
    total_tokens: int


class ResponseError(msgspec.Struct):
    code: str
    message: str


class IncompleteDetails(msgspec.Struct):
    reason: str


class Response(msgspec.Struct, kw_only=True):
    """The ``response`` object, fields in OpenAI's order.  Request settings are echoed."""

    id: str
    object: str = "response"
    created_at: int
    status: ResponseStatus
    completed_at: int | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = msgspec.field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] | None = None
    store: bool = True
    temperature: float | None = None
    text: dict[str, Any] = msgspec.field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: str | dict[str, Any] = "auto"
    tools: list[dict[str, Any]] = msgspec.field(default_factory=list)
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | msgspec.UnsetType = msgspec.UNSET  # the schema has no null
    user: str | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


# -------------------------------------------------------------------------- stream events


class _Event(msgspec.Struct, tag_field="type", kw_only=True):
    sequence_number: int = 0


class Created(_Event, tag="response.created"):
    response: Response


class InProgress(_Event, tag="response.in_progress"):
    response: Response


class Completed(_Event, tag="response.completed"):
    response: Response


class Incomplete(_Event, tag="response.incomplete"):
    response: Response


class FailedEvent(_Event, tag="response.failed"):
    response: Response


class ItemAdded(_Event, tag="response.output_item.added"):
    output_index: int
    item: OutputItem


class ItemDone(_Event, tag="response.output_item.done"):
    output_index: int
    item: OutputItem


class PartAdded(_Event, tag="response.content_part.added"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class PartDone(_Event, tag="response.content_part.done"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class TextDelta(_Event, tag="response.output_text.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any] = msgspec.field(default_factory=list)


class TextDone(_Event, tag="response.output_text.done"):
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any] = msgspec.field(default_factory=list)


class ReasoningDelta(_Event, tag="response.reasoning_text.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str


class ReasoningDone(_Event, tag="response.reasoning_text.done"):
    item_id: str
    output_index: int
    content_index: int
    text: str


class ArgumentsDelta(_Event, tag="response.function_call_arguments.delta"):
    item_id: str
    output_index: int
    delta: str


class ArgumentsDone(_Event, tag="response.function_call_arguments.done"):
    item_id: str
    name: str
    output_index: int
    arguments: str


class AnnotationAdded(_Event, tag="response.output_text.annotation.added"):
    item_id: str
    output_index: int
    content_index: int
    annotation_index: int
    annotation: UrlCitation


class ErrorEvent(_Event, tag="error"):
    code: str | None
    message: str
    param: str | None


StreamEvent = (
    Created
    | InProgress
    | Completed
    | Incomplete
    | FailedEvent
    | ItemAdded
    | ItemDone
    | PartAdded
    | PartDone
    | TextDelta
    | TextDone
    | ReasoningDelta
    | ReasoningDone
    | ArgumentsDelta
    | ArgumentsDone
    | AnnotationAdded
    | ErrorEvent
)

request_decoder: Final = msgspec.json.Decoder(ResponsesRequest)
encoder: Final = msgspec.json.Encoder()

__all__ = [
    "FunctionCall",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "MessageItem",
    "OutputItem",
    "OutputMessage",
    "OutputText",
    "Reasoning",
    "ReasoningText",
    "Response",
    "ResponseError",
    "ResponseStatus",
    "ResponseUsage",
    "ResponsesRequest",
    "StreamEvent",
    "TextParam",
    "UrlCitation",
    "encoder",
    "request_decoder",
]
