"""The in-memory :class:`~asgi_spark.limits.Limiter`: one process's slots, first come first served.

Waiters are served in arrival order (a large request is not starved by small ones behind it),
and a waiter that gives up (timeout or cancellation) leaves the queue, so the slots it waited
for go to the next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import LimitExceeded


@dataclass(slots=True)
class _Waiter:
    n: int
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Pool:
    capacity: int
    used: int = 0
    waiters: deque[_Waiter] = field(default_factory=deque)


class _MemoryLease:
    __slots__ = ("_key", "_limiter", "_n")

    def __init__(self, limiter: MemoryLimiter, key: str, n: int) -> None:
        self._limiter: MemoryLimiter | None = limiter
        self._key = key
        self._n = n

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._give_back(self._key, self._n)


class MemoryLimiter:
    """Slots per key with the capacities given (``{key: slots}``); other keys are unlimited."""

    def __init__(self, capacities: Mapping[str, int]) -> None:
        for key, capacity in capacities.items():
            if capacity < 1:
                raise ValueError(f"the capacity of {key!r} must be at least 1, not {capacity}")
        self._pools = {key: _Pool(capacity) for key, capacity in capacities.items()}

    def in_use(self, key: str) -> int:
        pool = self._pools.get(key)
        return pool.used if pool is not None else 0

    async def acquire(self, key: str, n: int = 1, *, timeout: float | None = None) -> _MemoryLease:
        pool = self._pools.get(key)
        if pool is None:
            return _MemoryLease(self, key, 0)
        if n > pool.capacity:
            raise LimitExceeded(
                f"the request needs {n} concurrent upstream sessions of {key!r}, which allows "
                f"{pool.capacity}"
            )
        if not pool.waiters and pool.used + n <= pool.capacity:
            pool.used += n
            return _MemoryLease(self, key, n)
        if timeout is not None and timeout <= 0:
            raise self._exceeded(key, pool, 0.0)
        waiter = _Waiter(n, asyncio.get_running_loop().create_future())
        pool.waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.future, timeout)
        except BaseException as exc:  # the wait timed out, or the request was cancelled
            if waiter.future.done() and not waiter.future.cancelled():
                self._give_back(key, n)  # granted in the same instant: pass the slots on
            else:
                waiter.future.cancel()
                pool.waiters.remove(waiter)
                self._wake(pool)  # a smaller waiter behind this one may fit now
            if isinstance(exc, asyncio.TimeoutError | TimeoutError):
                raise self._exceeded(key, pool, timeout or 0.0) from None
            raise
        return _MemoryLease(self, key, n)

    async def aclose(self) -> None:
        return None

    def _give_back(self, key: str, n: int) -> None:
        pool = self._pools.get(key)
        if pool is None or n == 0:
            return
        pool.used -= n
        self._wake(pool)

    @staticmethod
    def _wake(pool: _Pool) -> None:
        while pool.waiters and pool.used + pool.waiters[0].n <= pool.capacity:
            waiter = pool.waiters.popleft()
            pool.used += waiter.n
            waiter.future.set_result(None)

    @staticmethod
    def _exceeded(key: str, pool: _Pool, waited: float) -> LimitExceeded:
        return LimitExceeded(
            f"all {pool.capacity} concurrent upstream sessions of {key!r} are busy"
            + (f" (waited {waited:g} s)" if waited else ""),
            retry_after=1.0,
        )


__all__ = ["MemoryLimiter"]
