"""The seam where policies wrap the call of an adapter: sources, calls, policies, composition.

A **source** is an async generator of event batches (one batch per upstream frame).  Calling a
model is a function ``call_next(call) -> source``.  A **policy** has the Tower/middleware shape
``policy(call, call_next) -> source``: it may call again (retry), call another model
(fallback, with ``dataclasses.replace(call, model=...)``), rewrite ``call.body`` before the
frame is built (structured output, forced tool choice), hold a limiter slot around the call
(limit), or filter and observe the batches (stop, metrics).  :func:`compose` stacks policies,
the first one outermost.  A policy with nothing to do for a request (no ``stop``, ``n`` of 1)
returns ``call_next(call)`` itself rather than relaying it: every relaying layer costs a
generator step per batch, so a request pays only for the layers it uses.

The **commit point** is the ``Started`` event reaching the writer: the writer sets
``call.context.committed`` then.  Before it a policy may still retry, fall back or fail with a
clean HTTP error; after it the only honest ending of a failure is an error event.

:func:`adapter_call` is the innermost layer: the adapter's own source, checked against the event
contract (:class:`~asgi_spark.events.EventContract`), so that an adapter that breaks it becomes
a named :class:`~asgi_spark.events.ContractViolation` (one logged ``Failed`` event), never
malformed output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from .adapters.base import Adapter
from .errors import GatewayError
from .events import Connected, ContractViolation, Event, EventContract, Failed
from .openai_types import ChatCompletionRequest
from .request_id import new_request_id

logger = logging.getLogger("asgi_spark")

Source = AsyncGenerator[list[Event], None]


@dataclass(slots=True)
class RequestContext:
    """What the layers of one request share: policies and the writer write it, the
    :class:`~asgi_spark.outcome.Outcome` is built from it."""

    endpoint: str
    requested_model: str
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.monotonic)
    #: Set by the writer when ``Started`` reaches it; from then on nothing may be retried.
    committed: bool = False
    #: How many answers the client gets (``n``); the writers end after this many finish.
    choices: int = 1
    #: The model whose answer the client gets (a fallback may change it).
    answered_by: str | None = None
    attempts: int = 0
    #: Retries made by the retry policy, and models tried next by the fallback policy.
    retries: int = 0
    fallbacks: int = 0
    limit_wait: float = 0.0
    limit_rejected: bool = False
    ignored_params: tuple[str, ...] = ()
    client_key: str | None = None
    #: From the adapter's :class:`~asgi_spark.events.Connected` (the last attempt's): seconds
    #: spent opening the upstream connection (0 when pooled), whether it came from a warm pool,
    #: when the request went out and when its first batch came back (``time.monotonic()``).
    upstream_connect: float | None = None
    pooled: bool = False
    upstream_sent: float | None = None
    upstream_first: float | None = None
    #: The request's messages as (role, text), only when the access log includes content;
    #: the writer then keeps the answer's text too.
    messages: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a model: the request body, the model id to call, the request's context."""

    body: ChatCompletionRequest
    model: str
    context: RequestContext


CallNext = Callable[[Call], Source]
Policy = Callable[[Call, CallNext], Source]


def compose(policies: Sequence[Policy], innermost: CallNext) -> CallNext:
    """``policies[0](call, policies[1](call, ... innermost))``: the first policy is outermost."""
    call_next = innermost
    for policy in reversed(policies):
        call_next = _bind(policy, call_next)
    return call_next


def _bind(policy: Policy, call_next: CallNext) -> CallNext:
    def call(request: Call) -> Source:
        return policy(request, call_next)

    return call


class Attempt:
    """One try of a call, relayed batch by batch, that stops *before* a failure it may hide.

    Iterate it to pass its batches on; a ``Failed`` that arrives while nothing is committed and
    that ``may_hide(error)`` accepts is not yielded: the iteration ends and :attr:`failure`
    holds it, so a retry or fallback policy can try again.  Any other batch, a failure after
    the commit point included, is yielded as it is.  The source is closed when iteration ends.
    """

    __slots__ = ("_context", "_may_hide", "_source", "failure")

    def __init__(
        self,
        source: Source,
        context: RequestContext,
        may_hide: Callable[[GatewayError], bool] = lambda error: error.retryable,
    ) -> None:
        self._source = source
        self._context = context
        self._may_hide = may_hide
        self.failure: GatewayError | None = None

    async def __aiter__(self) -> Source:
        async with aclosing(self._source) as source:
            async for batch in source:
                failure = next((e.error for e in batch if isinstance(e, Failed)), None)
                if failure is not None and not self._context.committed and self._may_hide(failure):
                    self.failure = failure
                    return
                yield batch


def adapter_call(adapter: Adapter) -> CallNext:
    """The innermost layer for ``adapter``: its events, checked against the event contract.

    This is where the adapter's :class:`~asgi_spark.events.Connected` (first in its first
    batch) is copied into the request's context: the adapter is shared by every request and
    never sees a context; what it knows about one request's connection travels down with that
    request's events, like everything else."""

    async def call(request: Call) -> Source:
        contract = EventContract(adapter.name or type(adapter).__name__)
        context = request.context
        context.attempts += 1
        context.answered_by = request.model
        context.ignored_params = adapter.ignored_params(request.body)
        first = True
        events = adapter.stream(request.body)
        try:
            async for batch in events:
                if first:
                    first = False
                    _record_connection(context, batch)
                contract.check(batch)
                yield batch
                if contract.terminal:
                    return
            contract.check_end()
        except ContractViolation as violation:
            await events.aclose()  # the socket closes before the failure is told
            logger.error("%s", violation.message)
            yield [Failed(violation)]
        finally:
            await events.aclose()  # closes the socket (what ``aclosing`` does, kept lighter)

    return call


def _record_connection(context: RequestContext, batch: list[Event]) -> None:
    head = batch[0] if batch else None
    if isinstance(head, Connected):
        context.upstream_connect = head.connect
        context.pooled = head.pooled
        context.upstream_sent = head.sent_at
        context.upstream_first = time.monotonic()


__all__ = [
    "Attempt",
    "Call",
    "CallNext",
    "Policy",
    "RequestContext",
    "Source",
    "adapter_call",
    "compose",
]
