"""Legacy Completions writers: ``text_completion`` chunks as SSE, or one ``text_completion``.

The chat writers' machine (:mod:`.respond`) with another shape
(:class:`~asgi_spark.legacy_completions.CompletionEncoder`): PENDING → OPEN → CLOSED, the
commit point at ``Started``, an error event and no ``[DONE]`` for a failure after it, and the
:class:`~asgi_spark.outcome.Outcome` returned.
"""

from __future__ import annotations

from starlette.types import Send

from . import sse
from .errors import InternalError
from .events import fold
from .legacy_completions import CompletionEncoder, encode
from .outcome import Outcome
from .pipeline import RequestContext, Source
from .respond import WriterState, _Writer, as_gateway_error


class CompletionSSEWriter(_Writer):
    """Streams ``text_completion`` chunks, then ``data: [DONE]``."""

    def __init__(self, send: Send, context: RequestContext, *, include_usage: bool = False) -> None:
        super().__init__(send, context, stream=True)
        self._include_usage = include_usage

    async def write(self, source: Source) -> Outcome:
        encoder: CompletionEncoder | None = None
        finished = False
        try:
            async for events in source:
                batch = fold(events)
                self.tally.add(batch)
                if encoder is None:
                    if batch.started is None:
                        if batch.failure is not None:
                            return await self._fail_pending(batch.failure)
                        continue
                    encoder = CompletionEncoder(
                        self.model, self.created, include_usage=self._include_usage
                    )
                    await self._open()
                data = encoder.encode_batch(batch)
                if batch.failure is not None:
                    self.tally.error = batch.failure
                    data += encoder.error(batch.failure)
                if data:
                    await self._body(data)
                if self._ends(batch):
                    finished = batch.failure is None
                    break
            else:
                raise InternalError("the upstream adapter ended without a final answer")
        except Exception as exc:
            error = as_gateway_error(exc)
            if encoder is None:
                return await self._fail_pending(error)
            self.tally.error = error
            await self._body(CompletionEncoder.error(error))
        await self._body(sse.DONE if finished else b"", more=False)
        self.state = WriterState.CLOSED
        return self.outcome()

    async def _body(self, data: bytes, *, more: bool = True) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": more})


class CompletionJSONWriter(_Writer):
    """Answers with one ``text_completion`` object once the answer is complete."""

    def __init__(self, send: Send, context: RequestContext) -> None:
        super().__init__(send, context, stream=False)

    async def write(self, source: Source) -> Outcome:
        return await self._write_json(
            source,
            lambda: CompletionEncoder(self.model, self.created),
            lambda encoder: encode(encoder.result()),
        )


__all__ = ["CompletionJSONWriter", "CompletionSSEWriter"]
