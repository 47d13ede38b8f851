"""The fallback policy: when a model fails retryably before the commit point (its retries
exhausted, or its limit refusing), try the next candidate model, in order.

Each candidate is called through its own composed call (its limit and retries hold too:
``fallback(limit(retry(adapter)))`` per candidate); the answer's ``model`` names the model that
answered (``context.answered_by``).  When every candidate failed, the client gets the last
failure.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from ..events import Failed
from ..pipeline import Attempt, Call, CallNext, Policy, Source

logger = logging.getLogger("asgi_spark")


def fallback(candidates: Sequence[str], route: Callable[[str], CallNext]) -> Policy:
    """Try ``call_next`` (the model itself), then ``route(model)`` for each of ``candidates``."""

    async def policy(call: Call, call_next: CallNext) -> Source:
        current = call
        next_call = call_next
        for following in (*candidates, None):
            attempt = Attempt(next_call(current), call.context)
            async for batch in attempt:
                yield batch
            failure = attempt.failure
            if failure is None:
                return
            if following is None:
                yield [Failed(failure)]
                return
            logger.warning(
                "falling back from model=%s to model=%s: %s",
                current.model,
                following,
                failure.message,
            )
            call.context.fallbacks += 1
            current = dataclasses.replace(call, model=following)
            next_call = route(following)

    return policy


__all__ = ["fallback"]
