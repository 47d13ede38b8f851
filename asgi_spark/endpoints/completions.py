"""``POST /v1/completions``: legacy Completions over the chat pipeline.

The request is decoded and translated (:mod:`..legacy_completions`: the prompt becomes one user
turn), routed and called exactly like a chat request, and answered by a Completions writer
(:mod:`..respond_completions`); errors of the chat pipeline name this API's fields
(``prompt``, not ``messages[0]``).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from ..legacy_completions import completion_decoder, translate
from ..observe import message_texts
from ..param_names import renamed
from ..pipeline import Call
from ..respond_completions import CompletionJSONWriter, CompletionSSEWriter
from .common import Exchange, Report, UseRuntime, answer, decode_body, observed, read_body
from .responses import client_key

WHAT = "a JSON completion request with model and prompt"


class CompletionsEndpoint:
    def __init__(self, use: UseRuntime, report: Report) -> None:
        self._use = use
        self._report = report

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def handle(exchange: Exchange) -> None:
            context = exchange.context
            context.client_key = client_key(scope)
            request = decode_body(completion_decoder, await read_body(receive), WHAT)
            context.requested_model = request.model
            chat, rename = translate(request)
            async with self._use(stream=bool(request.stream)) as exchange.runtime:
                call_model = exchange.runtime.route(request.model)
                if exchange.runtime.config.access_log.include_content:
                    context.messages = message_texts(chat)
                options = request.stream_options
                exchange.writer = (
                    CompletionSSEWriter(
                        send, context, include_usage=bool(options and options.include_usage)
                    )
                    if request.stream
                    else CompletionJSONWriter(send, context)
                )
                source = call_model(Call(chat, request.model, context))
                await answer(receive, exchange.writer, renamed(source, rename))

        await observed(scope, send, "completions", self._report, handle)


__all__ = ["CompletionsEndpoint"]
