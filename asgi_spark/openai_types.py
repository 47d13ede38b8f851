"""OpenAI Chat Completions wire types (request, completion, chunk, model list) as msgspec Structs.

Requests are decoded leniently: unknown fields are ignored (the API grows), wrong types are
400s that name the path of the bad field.  Responses are encoded from these Structs only.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

# ------------------------------------------------------------------------------- request


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class FunctionSpec(msgspec.Struct, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(msgspec.Struct, kw_only=True):
    type: str
    function: FunctionSpec | None = None


class ToolCallFunction(msgspec.Struct, kw_only=True):
    name: str
    arguments: str = ""


class ToolCall(msgspec.Struct, kw_only=True):
    id: str = ""
    type: str = "function"
    function: ToolCallFunction


class ChatMessage(msgspec.Struct, kw_only=True):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    function_call: ToolCallFunction | None = None
    refusal: str | None = None

    @property
    def text(self) -> str:
        """The message's text: its string content, or its text parts joined by spaces."""
        content = self.content
        if isinstance(content, list):
            return " ".join(str(part["text"]) for part in content if "text" in part)
        return content or ""


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    user: str | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[FunctionSpec] | None = None
    function_call: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    logit_bias: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    #: Spark's own options (``extra_body={"spark": {...}}``), see adapters/spark/options.py.
    spark: Any = None
    web_search_options: dict[str, Any] | None = None


# ------------------------------------------------------------------------------ responses


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ResponseToolCall(msgspec.Struct):
    id: str
    function: ToolCallFunction
    type: str = "function"


class UrlCitation(msgspec.Struct):
    url: str
    title: str
    start_index: int
    end_index: int


class Annotation(msgspec.Struct):
    url_citation: UrlCitation
    type: str = "url_citation"


class ResponseMessage(msgspec.Struct, kw_only=True):
    role: str
    content: str | None
    refusal: None = None
    tool_calls: list[ResponseToolCall] | msgspec.UnsetType = msgspec.UNSET
    reasoning_content: str | msgspec.UnsetType = msgspec.UNSET
    annotations: list[Annotation] | msgspec.UnsetType = msgspec.UNSET


class Choice(msgspec.Struct):
    index: int
    message: ResponseMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | msgspec.UnsetType = msgspec.UNSET
    # Omitted unless known: the OpenAPI schema types it as a string, so ``null`` is invalid.
    system_fingerprint: str | msgspec.UnsetType = msgspec.UNSET


class ToolCallChunk(msgspec.Struct, omit_defaults=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: ToolCallFunction | None = None


class Delta(msgspec.Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallChunk] | None = None
    annotations: list[Annotation] | None = None


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int
    delta: Delta
    logprobs: None = None
    finish_reason: str | None


class ChatCompletionChunk(msgspec.Struct, kw_only=True):
    """One stream chunk, fields in OpenAI's order.  ``usage`` is left out (UNSET) unless the
    client asked for ``include_usage``; then it is ``null`` on every chunk but the last."""

    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | msgspec.UnsetType | None = msgspec.UNSET


class Model(msgspec.Struct):
    id: str
    created: int
    owned_by: str
    object: str = "model"


class ModelList(msgspec.Struct):
    data: list[Model]
    object: str = "list"


request_decoder: Final = msgspec.json.Decoder(ChatCompletionRequest)
encoder: Final = msgspec.json.Encoder()
