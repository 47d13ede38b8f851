"""The in-memory :class:`~asgi_spark.limits.Limiter`: one process's limits.

Slot waiters are served in arrival order (a large request is not starved by small ones behind
it), and a waiter that gives up (timeout or cancellation) leaves the queue, so the slots it
waited for go to the next.  Rates and budgets use :mod:`.windows`, on ``time.monotonic``
(injectable as ``clock``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..gauges import Reading
from . import LimitExceeded, LimitStatus, too_many
from .windows import Budget, SlidingLog


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

    def __init__(
        self, capacities: Mapping[str, int], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        for key, capacity in capacities.items():
            if capacity < 1:
                raise ValueError(f"the capacity of {key!r} must be at least 1, not {capacity}")
        self._pools = {key: _Pool(capacity) for key, capacity in capacities.items()}
        self._clock = clock
        self._logs: dict[tuple[str, float], SlidingLog] = {}
        self._budgets: dict[tuple[str, float], Budget] = {}

    async def hit(
        self, key: str, limit: int, window: float, *, n: int = 1, timeout: float | None = 0.0
    ) -> None:
        if n > limit:
            raise too_many(limit, n, f"requests of {key!r} at once, whose rate")
        log = self._logs.setdefault((key, window), SlidingLog(window))
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            now = self._clock()
            wait = log.take(now, limit, n)
            if wait is None:
                return
            if deadline is not None and now + wait > deadline:
                raise LimitExceeded(
                    f"{key!r} allows {limit} requests per {window:g} s", retry_after=wait
                )
            await asyncio.sleep(wait)  # the exact time the oldest entry leaves the window

    async def check(self, key: str, limit: int, window: float) -> None:
        budget = self._budgets.get((key, window))
        wait = None if budget is None else budget.wait(self._clock(), limit)
        if wait is not None:
            raise LimitExceeded(f"{key!r} allows {limit} per {window:g} s", retry_after=wait)

    async def spend(self, key: str, amount: int, window: float) -> None:
        budget = self._budgets.setdefault((key, window), Budget(window))
        budget.spend(self._clock(), amount)

    async def status(self) -> LimitStatus:
        return LimitStatus("memory")

    def readings(self) -> Iterator[Reading]:
        return iter(())

    def in_use(self, key: str) -> int:
        pool = self._pools.get(key)
        return pool.used if pool is not None else 0

    async def acquire(self, key: str, n: int = 1, *, timeout: float | None = None) -> _MemoryLease:
        pool = self._pools.get(key)
        if pool is None:
            return _MemoryLease(self, key, 0)
        if n > pool.capacity:
            raise too_many(pool.capacity, n, f"concurrent upstream sessions of {key!r}")
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
