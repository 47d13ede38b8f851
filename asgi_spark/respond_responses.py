"""The Responses API's writers: SSE events or one ``response`` body, over ASGI ``send``.

They keep the chat writers' machine (:mod:`.respond`): PENDING → OPEN → CLOSED, the commit
point at ``Started`` (before it a failure is a clean HTTP error; after it a stream ends with an
``error`` event and ``response.failed``), and they return the
:class:`~asgi_spark.outcome.Outcome`.  What differs is the shape, built by
:class:`~asgi_spark.responses_build.ResponseBuilder`: every SSE event has an ``event:`` line
naming its type, and the stream ends after the terminal event, without ``[DONE]``, as OpenAI's
does.  A finished answer is handed to ``on_done`` (the store) before its terminal event or body
is sent, so a client can continue it as soon as it has it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar, Final, get_args

from starlette.types import Send

from . import sse
from .errors import InternalError
from .events import fold
from .outcome import Outcome
from .param_names import Renamer
from .pipeline import RequestContext, Source
from .respond import IGNORED_HEADER, WriterState, _Writer, as_gateway_error
from .responses_build import ResponseBuilder
from .responses_types import Response, StreamEvent, encoder

#: Each event type's name, for its ``event:`` line.
_NAMES: Final[dict[type, bytes]] = {
    cls: str(cls.__struct_config__.tag).encode() for cls in get_args(StreamEvent)
}
#: Builds the response shell (id, echoed settings) once the answering model is known.
MakeResponse = Callable[[str], Response]
#: Called with a finished (completed or incomplete) response before it is sent.
OnDone = Callable[[Response], None]


class _ResponsesWriter(_Writer):
    streaming: ClassVar[bool]

    def __init__(
        self,
        send: Send,
        context: RequestContext,
        *,
        make: MakeResponse,
        on_done: OnDone,
        rename: Renamer,
        ignored: tuple[str, ...] = (),
    ) -> None:
        super().__init__(send, context, stream=self.streaming)
        self._make = make
        self._on_done = on_done
        self._rename = rename
        self._ignored = ignored

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The chat writers' headers, with the ignored parameters in this API's names."""
        headers = [h for h in super().headers() if h[0] != IGNORED_HEADER]
        names = [self._rename(n) or n for n in self.context.ignored_params]
        names = list(dict.fromkeys([*names, *self._ignored]))
        if names:
            headers.append((IGNORED_HEADER, ", ".join(names).encode()))
        return headers

    def _builder(self) -> ResponseBuilder:
        return ResponseBuilder(self._make(self.model), stream=self.tally.stream)


class ResponsesSSEWriter(_ResponsesWriter):
    """Streams the documented Responses events."""

    streaming = True

    async def write(self, source: Source) -> Outcome:
        builder: ResponseBuilder | None = None
        try:
            async for events in source:
                batch = fold(events)
                self.tally.add(batch)
                if builder is None:
                    if batch.started is None:
                        if batch.failure is not None:
                            return await self._fail_pending(batch.failure)
                        continue
                    builder = self._builder()
                    await self._open()
                    await self._events(builder.start())
                out = builder.add(batch)
                if batch.failure is not None:
                    self.tally.error = batch.failure
                    out += builder.fail(batch.failure)
                    await self._events(out)
                    break
                if batch.finish is not None:
                    out += builder.terminal(int(time.time()))
                    self._on_done(builder.response)
                    await self._events(out)
                    break
                await self._events(out)
            else:
                raise InternalError("the upstream adapter ended without a final answer")
        except Exception as exc:
            error = as_gateway_error(exc)
            if builder is None:
                return await self._fail_pending(error)
            self.tally.error = error
            await self._events(builder.fail(error))
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        self.state = WriterState.CLOSED
        return self.outcome()

    async def _events(self, events: list[StreamEvent]) -> None:
        if not events:
            return
        data = b"".join(sse.named_event(_NAMES[type(e)], encoder.encode(e)) for e in events)
        await self._send({"type": "http.response.body", "body": data, "more_body": True})


class ResponsesJSONWriter(_ResponsesWriter):
    """Answers with one ``response`` object once the answer is complete."""

    streaming = False

    async def write(self, source: Source) -> Outcome:
        return await self._write_json(source, self._builder, self._finish)

    def _finish(self, builder: ResponseBuilder) -> bytes:
        if builder.response.status == "in_progress":
            raise InternalError("the upstream adapter ended without an answer")
        builder.terminal(int(time.time()))
        self._on_done(builder.response)
        return encoder.encode(builder.response)


__all__ = ["MakeResponse", "OnDone", "ResponsesJSONWriter", "ResponsesSSEWriter"]
