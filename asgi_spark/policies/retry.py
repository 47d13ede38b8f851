"""The retry policy: the seed's ``retry`` block, done right (cf. stamina).

Only failures whose error is ``retryable`` (the error table decides: connection refused or
reset, handshake 5xx and 429, Spark 10110, 11202, 11203, ...) and only while nothing has been
committed to the client (streams included): a failure after the first byte is never hidden.
The delay before retry ``n`` (1-based) is ``initial_delay * exponential_base ** (n - 1)``,
with full jitter when ``jitter`` is on, capped by ``max_delay``; an upstream ``Retry-After``
wins when it is longer (still capped).  No retry starts if its delay would end past the
request's deadline.  Each retry is logged (model, attempt, reason) and counted in the
request's ``attempts`` by the adapter layer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..events import Failed
from ..pipeline import Attempt, Call, CallNext, Policy, Source

logger = logging.getLogger("asgi_spark")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """How many retries and how long between them (seconds)."""

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    exponential_base: float = 2.0
    jitter: bool = True

    def delay(self, retry: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        delay = self.initial_delay * self.exponential_base ** (retry - 1)
        if self.jitter:
            delay *= rng()
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_delay)


def retry(
    backoff: Backoff,
    *,
    deadline: float | None,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> Policy:
    """A policy retrying ``backoff.max_retries`` times at most; ``deadline`` is the request's
    total time budget in seconds (from the request's start), ``None`` for none."""

    async def policy(call: Call, call_next: CallNext) -> Source:
        for number in range(backoff.max_retries + 1):
            attempt = Attempt(call_next(call), call.context)
            async for batch in attempt:
                yield batch
            failure = attempt.failure
            if failure is None:
                return
            delay = backoff.delay(number + 1, failure.retry_after, rng)
            left = None if deadline is None else call.context.started + deadline - time.monotonic()
            if number == backoff.max_retries or (left is not None and delay >= left):
                yield [Failed(failure)]
                return
            logger.warning(
                "retrying model=%s attempt=%d after %.2fs: %s",
                call.model,
                number + 2,
                delay,
                failure.message,
            )
            call.context.retries += 1
            await sleep(delay)

    return policy


__all__ = ["Backoff", "retry"]
