"""The limit policy: hold ``n`` limiter slots around the call of one candidate model.

Composed per candidate (``fallback(limit(retry(adapter)))``), so a fallback model's limit
holds too.  The wait counts into the request's ``limit_wait``; a refusal is the limiter's
:class:`~asgi_spark.limits.LimitExceeded` (429 with ``Retry-After``), recorded as
``limit_rejected``.  The slots are released when the source is closed, on every path.
"""

from __future__ import annotations

import time
from contextlib import aclosing

from ..events import Failed
from ..limits import Limiter, LimitExceeded
from ..pipeline import Call, CallNext, Policy, Source


def limit(limiter: Limiter, key: str, *, queue_timeout: float | None) -> Policy:
    """A policy taking one slot of ``key`` per answer the request asks for (``n``), all at once,
    waiting at most ``queue_timeout`` s."""

    async def policy(call: Call, call_next: CallNext) -> Source:
        slots = max(1, call.body.n or 1)
        began = time.monotonic()
        try:
            lease = await limiter.acquire(key, slots, timeout=queue_timeout)
        except LimitExceeded as exc:
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

    return policy


__all__ = ["limit"]
