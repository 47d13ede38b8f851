"""The limit policies of one candidate model: :func:`limit` holds ``n`` limiter slots around
its call (``max_concurrency``); :func:`rate` lets at most ``max_qps`` upstream requests start
per rolling second.

Composed per candidate (``fallback(limit(retry(adapter)))``), so a fallback model's limit
holds too.  The wait counts into the request's ``limit_wait``; a refusal is the limiter's
:class:`~asgi_spark.limits.LimitExceeded` (429 with ``Retry-After``), recorded as
``limit_rejected``.  The slots are released when the source is closed, on every path.

With a warm pool, idle pooled connections hold slots of the same limit.  The policy is then
given the pools as its ``room``: when no slot is free it asks them to close an idle connection
and hand its slot over (:meth:`Room.make_room`) before it waits, and it tells them when it
gives its slots back (:meth:`Room.released`), so they can fill again what nobody waits for.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from typing import Protocol

from ..errors import GatewayError
from ..events import Failed
from ..limits import Lease, Limiter, LimitExceeded
from ..pipeline import Call, CallNext, Policy, Source


class Room(Protocol):
    """What else holds slots of the limit (the warm pools of the key)."""

    async def make_room(self) -> Lease | None:
        """Hand over one slot held elsewhere (its lease now belongs to the caller); ``None``
        if there was none to give."""
        ...

    def released(self) -> None:
        """A request gave its slots back."""
        ...


def limit(
    limiter: Limiter,
    key: str,
    *,
    queue_timeout: float | None,
    room: Room | None = None,
) -> Policy:
    """A policy taking one slot of ``key`` per answer the request asks for (``n``), all at once,
    waiting at most ``queue_timeout`` s."""

    async def acquire(slots: int) -> Lease:
        if room is None:
            return await limiter.acquire(key, slots, timeout=queue_timeout)
        try:
            return await limiter.acquire(key, slots, timeout=0)
        except LimitExceeded:
            if slots == 1:
                lease = await room.make_room()
                if lease is not None:
                    return lease
            return await limiter.acquire(key, slots, timeout=queue_timeout)

    async def policy(call: Call, call_next: CallNext) -> Source:
        slots = max(1, call.body.n or 1)
        began = time.monotonic()
        try:
            lease = await acquire(slots)
        except GatewayError as exc:  # LimitExceeded, or the store unreachable (fail_closed)
            call.context.limit_rejected = True
            call.context.limit_wait += time.monotonic() - began
            yield [Failed(exc)]
            return
        call.context.limit_wait += time.monotonic() - began
        try:
            async with aclosing(call_next(call)) as source:
                async for batch in source:
                    yield batch
        finally:
            await lease.release()
            if room is not None:
                room.released()

    return policy


def rate(limiter: Limiter, key: str, max_qps: int, *, queue_timeout: float | None) -> Policy:
    """A policy counting each upstream request (each attempt, each of ``n`` choices: it goes
    inside ``retry`` and ``choices``) against ``max_qps`` of ``key``, waiting at most
    ``queue_timeout`` s for room in the rolling second."""

    async def policy(call: Call, call_next: CallNext) -> Source:
        began = time.monotonic()
        try:
            await limiter.hit(key, max_qps, 1.0, timeout=queue_timeout)
        except GatewayError as exc:
            call.context.limit_rejected = True
            call.context.limit_wait += time.monotonic() - began
            if isinstance(exc, LimitExceeded):
                message = f"{key!r} allows {max_qps} upstream requests per second (max_qps)"
                exc = LimitExceeded(message, retry_after=exc.retry_after, retryable=False)
            yield [Failed(exc)]
            return
        call.context.limit_wait += time.monotonic() - began
        async with aclosing(call_next(call)) as source:
            async for batch in source:
                yield batch

    return policy


__all__ = ["Room", "limit", "rate"]
