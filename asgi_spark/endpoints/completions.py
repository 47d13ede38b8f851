"""``POST /v1/completions``: legacy Completions over the chat pipeline.

The request is decoded and translated (:mod:`..legacy_completions`: the prompt becomes one user
turn), admitted, routed and called exactly like a chat request, and answered by a Completions
writer (:mod:`..respond_completions`); errors of the chat pipeline name this API's fields
(``prompt``, not ``messages[0]``).
"""

from __future__ import annotations

from ..endpoint import Incoming
from ..legacy_completions import completion_decoder, translate
from ..observe import message_texts
from ..param_names import renamed
from ..pipeline import Call
from ..respond_completions import CompletionJSONWriter, CompletionSSEWriter
from .common import Exchange, Report, answer, observed, read_json

WHAT = "a JSON completion request with model and prompt"


class CompletionsEndpoint:
    def __init__(self, report: Report) -> None:
        self._report = report

    async def create(self, incoming: Incoming) -> None:
        async def handle(exchange: Exchange) -> None:
            context, runtime, send = exchange.context, incoming.runtime, incoming.send
            request = await read_json(incoming, completion_decoder, WHAT)
            exchange.admit(request.model)
            chat, rename = translate(request)
            call_model = runtime.route(request.model)
            if runtime.config.access_log.include_content:
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
            await answer(exchange, renamed(source, rename), stream=bool(request.stream))

        await observed(incoming, "completions", self._report, handle)


__all__ = ["CompletionsEndpoint"]
