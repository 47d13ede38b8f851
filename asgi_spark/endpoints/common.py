"""What every model endpoint shares: reading the body, decoding it, running a writer until the
client goes away, and the translation layers' renaming of parameters in errors.

An endpoint reads as: under :func:`observed`, :func:`read_body` → :func:`decode_body` into its
request type → (a translation into a :class:`~asgi_spark.openai_types.ChatCompletionRequest`
for the Responses and Completions APIs) → route the model → a writer answers the call's source
(:func:`answer`), and the :class:`~asgi_spark.outcome.Outcome` goes to the access log and the
observers, refused requests included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from starlette.types import Receive, Scope, Send

from ..decoding import JsonDecodeFailure, decode
from ..errors import GatewayError, InvalidRequestError
from ..outcome import Outcome
from ..pipeline import RequestContext, Source
from ..request_id import client_request_id
from ..respond import JSONWriter, WriterState
from ..runtime import Runtime

T = TypeVar("T", covariant=True)

#: Largest accepted request body.  Spark's largest context (128K tokens) fits easily.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024


class UseRuntime(Protocol):
    """How an endpoint holds the gateway's current runtime for the length of a request."""

    def __call__(
        self, *, stream: bool = False
    ) -> contextlib.AbstractAsyncContextManager[Runtime]: ...


class ClientGone(Exception):
    """The client disconnected before the request was read."""


class _Decoder(Protocol[T]):
    def decode(self, data: Any, /) -> T: ...


class Writer(Protocol):
    state: WriterState

    async def write(self, source: Source) -> Outcome: ...

    async def fail(self, error: GatewayError) -> Outcome: ...

    def outcome(self) -> Outcome: ...


async def read_body(receive: Receive) -> bytes:
    """The whole request body, at most :data:`MAX_BODY_BYTES` (else a 413)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidRequestError(
                f"the request body is larger than {MAX_BODY_BYTES} bytes",
                code="request_too_large",
                status=413,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def decode_body(decoder: _Decoder[T], body: bytes, what: str) -> T:
    """``body`` decoded, or a 400 naming the bad field; ``what`` is the expected request
    (``"a JSON chat completion request"``)."""
    if not body.strip():
        raise InvalidRequestError(f"the request body is empty; send {what}")
    try:
        return decode(decoder, body)
    except JsonDecodeFailure as failure:
        if failure.kind != "schema":
            raise InvalidRequestError(failure.describe("the request body")) from None
        where = f" (at '{failure.path}')" if failure.path else ""
        raise InvalidRequestError(
            f"invalid request body: {failure.detail}{where}", param=failure.path
        ) from None


async def until_disconnect(receive: Receive, work: Awaitable[Any]) -> None:
    """Run ``work`` until done or until the client disconnects, whichever comes first.

    A disconnect cancels ``work``, which closes the upstream connection it owns.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, watcher):
            t.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def answer(receive: Receive, writer: Writer, source: Source) -> None:
    """Let ``writer`` answer ``source`` until done or the client goes away; the source is
    closed (and with it the upstream socket) on every path."""
    try:
        await until_disconnect(receive, writer.write(source))
    finally:
        await source.aclose()


#: Reports a finished request: its outcome and the runtime it ran on (``None``: it never got
#: one), to the access log and the observers.
Report = Callable[[Outcome, "Runtime | None"], None]


@dataclass(slots=True)
class Exchange:
    """One request's bookkeeping: its context, the writer that answers it (until the endpoint
    chooses one, a JSON writer that can send an error), the runtime it runs on."""

    context: RequestContext
    writer: Writer
    runtime: Runtime | None = None


async def observed(
    scope: Scope,
    send: Send,
    endpoint: str,
    report: Report,
    handle: Callable[[Exchange], Awaitable[None]],
) -> None:
    """Run ``handle`` for one request of a model endpoint so that it ends in one
    :class:`~asgi_spark.outcome.Outcome`, refused requests included: a
    :class:`~asgi_spark.errors.GatewayError` raised before anything was sent (a bad
    ``X-Request-ID`` too) is answered by the exchange's writer, and the outcome is reported on
    every path."""
    context = RequestContext(endpoint=endpoint, requested_model="")
    exchange = Exchange(context, JSONWriter(send, context))
    try:
        context.request_id = client_request_id(scope) or context.request_id
        await handle(exchange)
    except GatewayError as exc:
        if exchange.writer.state is not WriterState.PENDING:
            raise
        await exchange.writer.fail(exc)
    finally:
        report(exchange.writer.outcome(), exchange.runtime)


__all__ = [
    "MAX_BODY_BYTES",
    "ClientGone",
    "Exchange",
    "Report",
    "UseRuntime",
    "Writer",
    "answer",
    "decode_body",
    "observed",
    "read_body",
    "until_disconnect",
]
