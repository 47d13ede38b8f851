"""``POST /v1/responses`` and ``GET /v1/responses/{id}``: the Responses API over the chat
pipeline.

A request is decoded (:mod:`..responses_types`), continued from the store when it names a
``previous_response_id``, translated into a Chat Completions request
(:mod:`..responses_request`), routed and called exactly like a chat request (the model's
composed policies, a :class:`~asgi_spark.pipeline.Call` with its own
:class:`~asgi_spark.pipeline.RequestContext`), and answered by a Responses writer
(:mod:`..respond_responses`).  A finished answer is stored (unless ``store`` is false) for its
client key (the name of the ``api_keys`` entry the client used; ``None`` without keys), for
``previous_response_id`` and ``GET /v1/responses/{id}``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from ..endpoint import Incoming
from ..errors import UnsupportedParameterError
from ..observe import message_texts
from ..openai_types import ChatMessage, ToolCall, ToolCallFunction
from ..param_names import renamed
from ..pipeline import Call
from ..respond import send_json
from ..respond_responses import ResponsesJSONWriter, ResponsesSSEWriter
from ..responses_request import Translated, translate
from ..responses_store import ResponseStore
from ..responses_types import (
    FunctionCall,
    OutputMessage,
    Response,
    ResponsesRequest,
    encoder,
    request_decoder,
)
from ..runtime import Runtime
from .common import Exchange, Report, answer, observed, read_json

WHAT = "a JSON Responses API request with model and input"


class ResponsesEndpoint:
    """The Responses API's endpoints and the store they share (one per gateway)."""

    def __init__(self, report: Report, store: ResponseStore | None = None) -> None:
        self._report = report
        self.store = store or ResponseStore()

    async def create(self, incoming: Incoming) -> None:
        async def handle(exchange: Exchange) -> None:
            context, runtime, send = exchange.context, incoming.runtime, incoming.send
            request = await read_json(incoming, request_decoder, WHAT)
            exchange.admit(request.model)
            self.store.configure(runtime.config.responses_store)
            previous: tuple[ChatMessage, ...] = ()
            if request.previous_response_id is not None:
                stored = self.store.get(
                    request.previous_response_id, context.client_key, param="previous_response_id"
                )
                previous = stored.conversation
            translated = translate(request, previous)
            call_model = runtime.route(request.model)
            _refuse_ignored(runtime, request.model, translated.ignored)
            if runtime.config.access_log.include_content:
                context.messages = message_texts(translated.chat)
            shell = _shell(request)
            keep = request.store is not False

            def make(model: str) -> Response:
                return msgspec.structs.replace(shell, model=model)

            def on_done(response: Response) -> None:
                if keep:
                    conversation = [*translated.conversation, assistant_message(response)]
                    body = encoder.encode(response)
                    self.store.put(response.id, context.client_key, conversation, body)

            exchange.writer = (ResponsesSSEWriter if request.stream else ResponsesJSONWriter)(
                send,
                context,
                make=make,
                on_done=on_done,
                rename=translated.rename,
                ignored=translated.ignored,
            )
            source = call_model(Call(translated.chat, request.model, context))
            renamed_source = renamed(source, translated.rename)
            await answer(exchange, renamed_source, stream=bool(request.stream))

        await observed(incoming, "responses", self._report, handle)

    async def retrieve(self, incoming: Incoming) -> None:
        """A stored response, for the client key that created it only (404 otherwise)."""
        runtime = incoming.runtime
        self.store.configure(runtime.config.responses_store)
        key = incoming.client.name if incoming.client is not None else None
        response_id = incoming.scope["path_params"]["response_id"]
        stored = self.store.get(response_id, key, param="response_id")
        await send_json(incoming.send, 200, stored.response)


def _refuse_ignored(runtime: Runtime, model: str, ignored: tuple[str, ...]) -> None:
    """A model with ``strict_params`` refuses this API's ignored fields as Chat's."""
    adapter = runtime.adapters.get(model)
    if adapter is not None and adapter.entry.strict_params and ignored:
        raise UnsupportedParameterError(
            f"'{ignored[0]}' is not supported by this model (strict_params is on)",
            param=ignored[0],
        )


def _shell(request: ResponsesRequest) -> Response:
    """The response before the answer: its id and the request's settings, echoed."""
    fmt = request.text.format if request.text is not None else None
    text: dict[str, Any] = {"format": fmt or {"type": "text"}}
    if request.text is not None and request.text.verbosity is not None:
        text["verbosity"] = request.text.verbosity
    return Response(
        id="resp_" + uuid.uuid4().hex,
        created_at=int(time.time()),
        status="in_progress",
        instructions=request.instructions,
        max_output_tokens=request.max_output_tokens,
        model=request.model,
        parallel_tool_calls=request.parallel_tool_calls is not False,
        previous_response_id=request.previous_response_id,
        reasoning=request.reasoning,
        store=request.store is not False,
        temperature=request.temperature,
        text=text,
        tool_choice=request.tool_choice or "auto",
        tools=[_tool_echo(tool) for tool in request.tools or ()],
        top_p=request.top_p,
        truncation=request.truncation or "disabled",
        user=request.user if request.user is not None else msgspec.UNSET,
        metadata=request.metadata or {},
    )


def _tool_echo(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }


def assistant_message(response: Response) -> ChatMessage:
    """The answer as the assistant's turn of the stored conversation (reasoning left out)."""
    texts = [
        part.text
        for item in response.output
        if isinstance(item, OutputMessage)
        for part in item.content
    ]
    calls = [
        ToolCall(
            id=item.call_id, function=ToolCallFunction(name=item.name, arguments=item.arguments)
        )
        for item in response.output
        if isinstance(item, FunctionCall)
    ]
    return ChatMessage(role="assistant", content="".join(texts) or None, tool_calls=calls or None)


__all__ = ["ResponsesEndpoint", "Translated", "assistant_message"]
