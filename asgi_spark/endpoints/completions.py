"""``POST /v1/completions``: legacy Completions over the chat pipeline.

The request is decoded and translated (:mod:`..legacy_completions`: the prompt becomes one user
turn), routed and called exactly like a chat request, and answered by a Completions writer
(:mod:`..respond_completions`); errors of the chat pipeline name this API's fields
(``prompt``, not ``messages[0]``).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from ..legacy_completions import completion_decoder, translate
from ..param_names import renamed
from ..pipeline import Call, RequestContext
from ..respond_completions import CompletionJSONWriter, CompletionSSEWriter
from .common import UseRuntime, answer, decode_body, read_body
from .responses import client_key

WHAT = "a JSON completion request with model and prompt"


class CompletionsEndpoint:
    def __init__(self, use: UseRuntime) -> None:
        self._use = use

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = decode_body(completion_decoder, await read_body(receive), WHAT)
        chat, rename = translate(request)
        async with self._use() as runtime:
            call_model = runtime.route(request.model)
            context = RequestContext(endpoint="completions", requested_model=request.model)
            context.client_key = client_key(scope)
            options = request.stream_options
            writer = (
                CompletionSSEWriter(
                    send, context, include_usage=bool(options and options.include_usage)
                )
                if request.stream
                else CompletionJSONWriter(send, context)
            )
            source = call_model(Call(chat, request.model, context))
            await answer(receive, writer, renamed(source, rename))


__all__ = ["CompletionsEndpoint"]
