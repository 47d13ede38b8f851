"""The client keys' limits: ``requests_per_minute`` and ``tokens_per_minute`` of an ``api_keys``
entry, the outermost policy of every model (so one request counts once, whatever its
emulations, choices, retries and fallbacks do inside).

* ``requests_per_minute``: at most that many requests of the key are admitted in any rolling
  60 s (a sliding log, exact).  A request over it is refused at once: 429 with ``Retry-After``,
  the seconds until the oldest of them leaves the window.
* ``tokens_per_minute``: the tokens the upstream reported (``usage.total_tokens``) for the
  key's answers, counted to the second for 60 s after each answer.  A request is admitted while
  that total is below the limit (what an answer will use is unknown until it ends, so the last
  admitted answer may go over; the next requests wait for it to leave the window).  An answer
  cut by ``stop`` counts the gateway's estimate (see :mod:`asgi_spark.policies.stop`); a failed
  one that reports no usage counts nothing.

The limits are per key *name*, shared by every process with the ``redis`` backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import aclosing

from ..config import ClientKey
from ..errors import GatewayError
from ..events import Failed, Usage
from ..limits import Limiter, LimitExceeded
from ..pipeline import Call, CallNext, Policy, Source

WINDOW = 60.0


def key_limits(limiter: Limiter, keys: Mapping[str, ClientKey]) -> Policy:
    """A policy applying the limits of the client key the request came with (by name); a
    request whose key has none is passed on as it is (no layer per batch)."""

    def policy(call: Call, call_next: CallNext) -> Source:
        name = call.context.client_key
        key = keys.get(name) if name is not None else None
        if key is None:
            return call_next(call)
        return _limited(limiter, key, call, call_next)

    return policy


async def _limited(limiter: Limiter, key: ClientKey, call: Call, call_next: CallNext) -> Source:
    try:
        await _admit(limiter, key)
    except GatewayError as exc:  # LimitExceeded, or the store unreachable (fail_closed)
        call.context.limit_rejected = True
        yield [Failed(exc)]
        return
    tokens = 0
    try:
        async with aclosing(call_next(call)) as source:
            async for batch in source:
                for event in batch:
                    if isinstance(event, Usage):
                        tokens += event.total_tokens
                yield batch
    finally:
        if key.tokens_per_minute is not None and tokens:
            await limiter.spend(f"key:{key.name}", tokens, WINDOW)


async def _admit(limiter: Limiter, key: ClientKey) -> None:
    if key.tokens_per_minute is not None:
        try:
            await limiter.check(f"key:{key.name}", key.tokens_per_minute, WINDOW)
        except LimitExceeded as exc:
            raise LimitExceeded(
                f"the key {key.name!r} used its {key.tokens_per_minute} tokens of the last "
                "minute (tokens_per_minute)",
                retry_after=exc.retry_after,
                retryable=False,
            ) from None
    if key.requests_per_minute is not None:
        try:
            await limiter.hit(f"key:{key.name}", key.requests_per_minute, WINDOW, timeout=0)
        except LimitExceeded as exc:
            raise LimitExceeded(
                f"the key {key.name!r} made its {key.requests_per_minute} requests of the last "
                "minute (requests_per_minute)",
                retry_after=exc.retry_after,
                retryable=False,
            ) from None


__all__ = ["key_limits"]
