"""What the translated model endpoints (Responses, Completions) share with the chat endpoint:
one request, admitted by its :class:`~asgi_spark.endpoint.Endpoint`, read and decoded, run
until the client goes away, and ending in one :class:`~asgi_spark.outcome.Outcome`.

An endpoint reads as: :func:`observed` runs its handler → :func:`read_json` decodes the body
into its request type → a translation into a
:class:`~asgi_spark.openai_types.ChatCompletionRequest` → the model is admitted and routed → a
writer answers the call's source (:func:`answer`), and the outcome goes to the access log and
the observers, refused requests included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from starlette.types import Receive

from .. import access
from ..decoding import Decoder
from ..endpoint import Incoming
from ..errors import GatewayError
from ..outcome import Outcome
from ..pipeline import RequestContext, Source
from ..request_body import MAX_BODY_BYTES, decode_body, read_body, require_json
from ..request_id import client_request_id
from ..respond import JSONWriter, WriterState
from ..runtime import Runtime

T = TypeVar("T", covariant=True)

#: Reports a finished request: its outcome and the runtime it ran on (the access log and the
#: observers).
Report = Callable[[Outcome, Runtime], None]


class Writer(Protocol):
    state: WriterState

    async def write(self, source: Source) -> Outcome: ...

    async def fail(self, error: GatewayError) -> Outcome: ...

    def outcome(self) -> Outcome: ...


@dataclass(slots=True)
class Exchange:
    """One request's bookkeeping: the admitted request, its context, and the writer that
    answers it (until the handler chooses one, a JSON writer that can send an error)."""

    incoming: Incoming
    context: RequestContext
    writer: Writer

    def admit(self, model: str) -> None:
        """The client's key may use ``model`` (a 403 otherwise), and the context says which."""
        self.context.requested_model = model
        access.admit(self.incoming.client, model, self.incoming.runtime.adapters, hide=False)


async def observed(
    incoming: Incoming, endpoint: str, report: Report, handle: Callable[[Exchange], Awaitable[None]]
) -> None:
    """Run ``handle`` for one request so that it ends in one outcome, refused requests
    included: a :class:`~asgi_spark.errors.GatewayError` raised before anything was sent (a
    bad ``X-Request-ID`` too) is answered by the exchange's writer, and the outcome is reported
    on every path."""
    client = incoming.client
    context = RequestContext(
        endpoint=endpoint,
        requested_model="",
        client_key=client.name if client is not None else None,
    )
    exchange = Exchange(incoming, context, JSONWriter(incoming.send, context))
    try:
        context.request_id = client_request_id(incoming.scope) or context.request_id
        await handle(exchange)
    except GatewayError as exc:
        if exchange.writer.state is not WriterState.PENDING:
            raise
        await exchange.writer.fail(exc)
    finally:
        report(exchange.writer.outcome(), incoming.runtime)


async def read_json(incoming: Incoming, decoder: Decoder[T], what: str) -> T:
    """The body (a JSON content type, at most :data:`MAX_BODY_BYTES`, within the configured
    ``body_timeout``) decoded, or a 400 naming the bad field; ``what`` is the expected
    request (``"a JSON completion request"``)."""
    require_json(incoming.headers)
    timeout = incoming.runtime.config.body_timeout
    body = await read_body(incoming.receive, limit=MAX_BODY_BYTES, timeout=timeout)
    return decode_body(body, decoder, what)


async def until_disconnect(receive: Receive, work: Awaitable[Any]) -> None:
    """Run ``work`` until done or until the client disconnects, whichever comes first.

    ``work`` runs in the caller's task; one watcher task reads ``receive`` and, at a
    disconnect, cancels the caller's task, which closes the upstream connection ``work`` owns
    (one task per request, not a task for the work plus ``asyncio.wait`` and ``gather``).
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    # The watcher runs only while this task waits inside ``work``, so its cancellation
    # arrives there and comes out here (unless ``work`` swallowed it).
    try:
        await work
    except asyncio.CancelledError:
        if not gone:
            raise
        gone = False  # taken back here, not again below
        if not _uncancel(task):
            raise  # cancelled by someone else too: that goes on
    finally:
        watcher.cancel()
        if gone:  # ``work`` swallowed the watcher's cancellation: take back its count
            _uncancel(task)


def _uncancel(task: asyncio.Task[Any]) -> bool:
    """Take back the watcher's cancellation; ``False`` if the task was cancelled by someone
    else too (Python 3.10 cannot tell, and takes it as the watcher's)."""
    uncancel = getattr(task, "uncancel", None)
    if uncancel is None:  # pragma: no cover - Python 3.10
        return True
    remaining: int = uncancel()
    return remaining == 0


async def answer(exchange: Exchange, source: Source, *, stream: bool) -> None:
    """Let the exchange's writer answer ``source`` until done or the client goes away; the
    source is closed (and with it the upstream socket) on every path."""
    runtime = exchange.incoming.runtime
    with runtime.streaming() if stream else contextlib.nullcontext():
        try:
            await until_disconnect(exchange.incoming.receive, exchange.writer.write(source))
        finally:
            await source.aclose()


__all__ = ["Exchange", "Report", "Writer", "answer", "observed", "read_json", "until_disconnect"]
