"""Writers: the SSE writer and the JSON writer, each a tiny explicit machine over ASGI ``send``.

Why raw ASGI and not a Starlette ``Response``: the HTTP status of a chat answer is only known
when the first upstream frame arrives (Spark refuses a request *inside* the WebSocket, after
the handshake), so the writer must be able to wait for the first batch and then choose between
``200`` + a stream and an OpenAI error body.  A ``StreamingResponse`` sends its status before
its iterator runs.

Each writer owns ``send`` for one request and moves PENDING → OPEN → CLOSED:

* PENDING: nothing sent.  A failure here is a clean OpenAI error response with its status.
  ``Started`` reaching the writer is the **commit point**: the writer sets
  ``context.committed`` and (SSE) sends the headers; from then on a failure can only be an
  error event (SSE: ``data: {"error": ...}`` and no ``[DONE]``).
* OPEN: bytes are flowing (SSE only; the JSON writer goes from PENDING to CLOSED with one body).
* CLOSED: the response is complete; nothing more may be sent.

:meth:`write` consumes a source and returns the frozen :class:`~asgi_spark.outcome.Outcome`;
:meth:`fail` answers a request refused before there is a source (a bad body, an unknown model);
:meth:`outcome` gives it at any time (for a request cancelled because the client went away).
Every response a writer sends carries the request's id in ``X-Request-ID``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from enum import Enum
from typing import Final, Protocol, TypeVar

from starlette.types import Send

from . import sse
from .completion import Aggregator, StreamEncoder, encode_completion
from .errors import GatewayError, InternalError, error_body
from .events import Batch, fold
from .outcome import Outcome, Tally
from .pipeline import RequestContext, Source
from .timing import HEADER as TIMING
from .timing import server_timing

logger = logging.getLogger("asgi_spark")

_JSON: Final = (b"content-type", b"application/json")
REQUEST_ID_HEADER: Final = b"x-request-id"


#: Names the request fields the model accepted but could not honour, comma-separated.
class Collector(Protocol):
    """What folds a non-streamed answer (:class:`~asgi_spark.completion.Aggregator`, ...)."""

    def add(self, batch: Batch) -> object: ...


C = TypeVar("C", bound=Collector)

IGNORED_HEADER: Final = b"x-asgi-spark-ignored-params"


class WriterState(Enum):
    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"


class _Writer:
    """What both writers share: the state, the tally and the outcome."""

    def __init__(self, send: Send, context: RequestContext, *, stream: bool) -> None:
        self._send = send
        self.context = context
        self.state = WriterState.PENDING
        self.tally = Tally(stream=stream)
        self._finished = 0
        if context.messages is not None:
            self.tally.text = []  # the access log includes content
        self.created = int(time.time())

    def outcome(self) -> Outcome:
        """The outcome so far; a writer that did not close was cancelled."""
        self.tally.cancelled = self.state is not WriterState.CLOSED
        return self.tally.outcome(self.context, time.monotonic())

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Response headers from the request's context (sent with the status): its id, and
        the parameters it ignored."""
        headers = [(REQUEST_ID_HEADER, self.context.request_id.encode("ascii"))]
        ignored = self.context.ignored_params
        if ignored:
            headers.append((IGNORED_HEADER, ", ".join(ignored).encode()))
        return headers

    def _commit(self) -> None:
        self.context.committed = True
        self.tally.first_byte = time.monotonic()

    async def fail(self, error: GatewayError) -> Outcome:
        """Answer with ``error`` (nothing may have been sent yet)."""
        if self.state is not WriterState.PENDING:
            raise RuntimeError(f"cannot fail a request whose writer is {self.state.value}")
        return await self._fail_pending(error)

    async def _fail_pending(self, error: GatewayError) -> Outcome:
        self.tally.error, self.tally.status = error, error.status
        now = time.monotonic()
        last = now if self.context.upstream_sent is not None else None
        timing = (TIMING, server_timing(self.context, now, last_frame=last))
        await send_error(self._send, error, [*self.headers(), timing])
        self.state = WriterState.CLOSED
        return self.outcome()

    async def _open(self) -> None:
        """Commit and start a 200 event stream (the SSE writers)."""
        self._commit()
        self.tally.status = 200
        timing = server_timing(self.context, time.monotonic())
        await self._send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*sse.HEADERS, *self.headers(), (TIMING, timing)],
            }
        )
        self.state = WriterState.OPEN

    async def _gather(self, source: Source, start: Callable[[], C]) -> tuple[C, float]:
        """Fold a non-streamed answer into the collector ``start()`` makes when it begins (the
        commit point); raise the failure it ends with.  Returns the collector and when the last
        frame came."""
        collector: C | None = None
        async for events in source:
            batch = fold(events)
            self.tally.add(batch)
            if collector is None and batch.started is not None:
                self._commit()
                collector = start()
            if batch.failure is not None:
                raise batch.failure
            if collector is not None:
                collector.add(batch)
            if self._ends(batch):
                break
        if collector is None:
            raise InternalError("the upstream adapter ended without an answer")
        return collector, time.monotonic()

    async def _write_json(
        self, source: Source, start: Callable[[], C], body: Callable[[C], bytes]
    ) -> Outcome:
        """A non-streamed answer: gather it into ``start()``'s collector, encode it with
        ``body`` and answer 200 (Server-Timing with the upstream's whole time); a failure
        before that is a clean error response."""
        try:
            collector, last_frame = await self._gather(source, start)
            data = body(collector)
        except Exception as exc:
            return await self._fail_pending(as_gateway_error(exc))
        return await self._answer_json(data, last_frame)

    async def _answer_json(self, body: bytes, last_frame: float | None = None) -> Outcome:
        """The 200 JSON response of a complete answer, with Server-Timing."""
        self.tally.status = 200
        timing = server_timing(self.context, time.monotonic(), last_frame=last_frame)
        await send_json(self._send, 200, body, [*self.headers(), (TIMING, timing)])
        self.state = WriterState.CLOSED
        return self.outcome()

    def _ends(self, batch: Batch) -> bool:
        """Whether ``batch`` ends the answer: a failure, or the last choice's finish."""
        if batch.finish is not None:
            self._finished += 1
        return batch.failure is not None or self._finished >= self.context.choices

    @property
    def model(self) -> str:
        return self.context.answered_by or self.context.requested_model


class SSEWriter(_Writer):
    """Streams chat completion chunks as server-sent events."""

    def __init__(self, send: Send, context: RequestContext, *, include_usage: bool = False) -> None:
        super().__init__(send, context, stream=True)
        self._include_usage = include_usage

    async def write(self, source: Source) -> Outcome:
        encoder: StreamEncoder | None = None
        finished = False
        tail = b""  # the last bytes, sent with more_body=False (and [DONE]) in one message
        try:
            async for events in source:
                batch = fold(events)
                self.tally.add(batch)
                if encoder is None:
                    if batch.started is None:
                        if batch.failure is not None:
                            return await self._fail_pending(batch.failure)
                        continue  # nothing to say yet (the contract allows only this)
                    encoder = StreamEncoder(
                        self.model, self.created, include_usage=self._include_usage
                    )
                    await self._open()
                data = encoder.encode_batch(batch)
                if self._ends(batch):
                    finished = batch.failure is None
                    self.tally.error = batch.failure
                    tail = data
                    break
                if data:
                    await self._send(
                        {"type": "http.response.body", "body": data, "more_body": True}
                    )
            else:
                raise InternalError("the upstream adapter ended without a final answer")
        except Exception as exc:
            error = as_gateway_error(exc)
            if encoder is None:
                return await self._fail_pending(error)
            self.tally.error = error
            tail = StreamEncoder.error(error)
        await self._send(
            {
                "type": "http.response.body",
                "body": tail + sse.DONE if finished else tail,
                "more_body": False,
            }
        )
        self.state = WriterState.CLOSED
        return self.outcome()


class JSONWriter(_Writer):
    """Answers with one ``chat.completion`` body once the answer is complete."""

    def __init__(self, send: Send, context: RequestContext) -> None:
        super().__init__(send, context, stream=False)

    async def write(self, source: Source) -> Outcome:
        return await self._write_json(
            source,
            lambda: Aggregator(self.model, self.created),
            lambda aggregator: encode_completion(aggregator.result()),
        )


def as_gateway_error(exc: Exception) -> GatewayError:
    """``exc`` itself if it is a GatewayError; otherwise a logged internal error."""
    if isinstance(exc, GatewayError):
        return exc
    logger.exception("internal error while answering a request")
    return InternalError("internal error in the gateway; the details are in its log")


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete JSON response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *(headers or ())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Send, error: GatewayError, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """The OpenAI error body of ``error`` with its status, its own headers (``Retry-After``
    when known) and ``headers``."""
    headers = [*error.headers, *(headers or ())]
    if error.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(error.retry_after))).encode()))
    await send_json(send, error.status, error_body(error), headers)


__all__ = [
    "REQUEST_ID_HEADER",
    "JSONWriter",
    "SSEWriter",
    "WriterState",
    "as_gateway_error",
    "send_error",
    "send_json",
]
