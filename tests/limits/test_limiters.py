"""Both limiter backends, the same behaviour: slots, rates and budgets, on a clock the test
moves (the Redis scripts take the time as an argument, so no test waits for a window to pass).
The Redis backend runs against a real ``redis-server``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from asgi_spark.limits import Limiter, LimitExceeded
from asgi_spark.limits.memory import MemoryLimiter
from asgi_spark.secrets import Secret
from tests.limits.redis_server import prefix


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


MakeLimiter = Callable[..., Limiter]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    made: list[Limiter] = []

    def memory(capacities: Mapping[str, int], clock: Clock | None, **_: Any) -> Limiter:
        return MemoryLimiter(capacities, clock=clock or time.monotonic)

    def redis(capacities: Mapping[str, int], clock: Clock | None, **options: Any) -> Limiter:
        from asgi_spark.limits.redis_backend import RedisLimiter

        url = request.getfixturevalue("redis_url")
        options.setdefault("key_prefix", shared)
        return RedisLimiter(
            Secret(url),
            capacities,
            lease_seconds=options.pop("lease_seconds", 30.0),
            on_unavailable="fail_closed",
            clock=clock,
            **options,
        )

    shared = prefix()  # two limiters of one test share their keys, like two processes
    backend = memory if request.param == "memory" else redis

    def build(capacities: Mapping[str, int], clock: Clock | None, **options: Any) -> Limiter:
        limiter = backend(capacities, clock, **options)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


# ----------------------------------------------------------------------------------- slots


async def test_slots_up_to_the_capacity_then_a_refusal(make: MakeLimiter) -> None:
    limiter = make({"m": 2}, Clock())
    first = await limiter.acquire("m", 1, timeout=0)
    second = await limiter.acquire("m", 1, timeout=0)
    assert limiter.in_use("m") == 2
    with pytest.raises(LimitExceeded) as refused:
        await limiter.acquire("m", 1, timeout=0)
    assert "all 2 concurrent upstream sessions of 'm' are busy" in refused.value.message
    assert refused.value.retry_after == 1.0
    await first.release()
    await first.release()  # idempotent: gives back one slot, once
    third = await limiter.acquire("m", 1, timeout=0)
    with pytest.raises(LimitExceeded):
        await limiter.acquire("m", 1, timeout=0)
    for lease in (second, third):
        await lease.release()
    assert limiter.in_use("m") == 0


async def test_n_slots_come_at_once_or_not_at_all(make: MakeLimiter) -> None:
    limiter = make({"m": 3}, Clock())
    one = await limiter.acquire("m", 1, timeout=0)
    with pytest.raises(LimitExceeded):
        await limiter.acquire("m", 3, timeout=0)
    assert limiter.in_use("m") == 1  # nothing of the refused three is held
    two = await limiter.acquire("m", 2, timeout=0)
    assert limiter.in_use("m") == 3
    await one.release()
    await two.release()
    with pytest.raises(LimitExceeded) as never:
        await limiter.acquire("m", 4, timeout=5)
    assert not never.value.retryable and never.value.retry_after is None


async def test_a_key_without_capacity_is_unlimited(make: MakeLimiter) -> None:
    limiter = make({}, Clock())
    leases = [await limiter.acquire("free", 1, timeout=0) for _ in range(50)]
    for lease in leases:
        await lease.release()


async def test_a_waiter_gets_the_slot_released_meanwhile(make: MakeLimiter) -> None:
    limiter = make({"m": 1}, Clock())
    held = await limiter.acquire("m", 1, timeout=0)
    waiting = asyncio.ensure_future(limiter.acquire("m", 1, timeout=10))
    await asyncio.sleep(0)
    assert not waiting.done()
    await held.release()
    lease = await asyncio.wait_for(waiting, 5)
    assert limiter.in_use("m") == 1
    await lease.release()


async def test_a_bounded_wait_ends_in_a_refusal(make: MakeLimiter) -> None:
    limiter = make({"m": 1}, Clock())
    held = await limiter.acquire("m", 1, timeout=0)
    with pytest.raises(LimitExceeded) as refused:
        await limiter.acquire("m", 1, timeout=0.05)
    assert "(waited 0.05 s)" in refused.value.message
    await held.release()


async def test_two_limiters_on_one_redis_share_the_slots(make: MakeLimiter) -> None:
    clock = Clock()
    first, second = make({"m": 2}, clock), make({"m": 2}, clock)
    a = await first.acquire("m", 1, timeout=0)
    b = await second.acquire("m", 1, timeout=0)
    if isinstance(first, MemoryLimiter):  # each process alone: its own two slots
        await (await first.acquire("m", 1, timeout=0)).release()
    else:
        for limiter in (first, second):
            with pytest.raises(LimitExceeded):
                await limiter.acquire("m", 1, timeout=0)
    await a.release()
    await (await second.acquire("m", 1, timeout=0)).release()
    await b.release()


# ----------------------------------------------------------------------------------- rates


async def test_a_rate_is_a_sliding_window(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make({}, clock)
    start = clock.now
    for offset in (0.0, 0.5, 0.6):
        clock.now = start + offset
        await limiter.hit("q", 3, 1.0)
    clock.now = start + 0.9
    with pytest.raises(LimitExceeded) as refused:
        await limiter.hit("q", 3, 1.0)
    assert refused.value.retry_after == pytest.approx(0.1)
    assert refused.value.message == "'q' allows 3 requests per 1 s"
    clock.now = start + 1.0  # the first event leaves the window: room for one
    await limiter.hit("q", 3, 1.0)
    clock.now = start + 1.2
    with pytest.raises(LimitExceeded) as again:
        await limiter.hit("q", 3, 1.0)
    assert again.value.retry_after == pytest.approx(0.3)  # the one at 0.5 leaves at 1.5


async def test_a_rate_takes_n_at_once_or_not_at_all(make: MakeLimiter) -> None:
    clock = Clock()
    limiter = make({}, clock)
    await limiter.hit("q", 3, 1.0, n=2)
    with pytest.raises(LimitExceeded):
        await limiter.hit("q", 3, 1.0, n=2)
    await limiter.hit("q", 3, 1.0, n=1)
    with pytest.raises(LimitExceeded) as never:
        await limiter.hit("q", 3, 1.0, n=4)
    assert not never.value.retryable


async def test_rates_of_other_keys_and_windows_are_apart(make: MakeLimiter) -> None:
    limiter = make({}, Clock())
    await limiter.hit("a", 1, 1.0)
    await limiter.hit("b", 1, 1.0)
    await limiter.hit("a", 1, 60.0)
    with pytest.raises(LimitExceeded):
        await limiter.hit("a", 1, 1.0)


async def test_a_rate_waits_for_room_within_its_timeout(make: MakeLimiter) -> None:
    limiter = make({}, None)  # the real clock: the wait is real
    await limiter.hit("q", 1, 0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await limiter.hit("q", 1, 0.2, timeout=5)
    assert loop.time() - began >= 0.15  # it waited for the first to leave the window


# --------------------------------------------------------------------------------- budgets


async def test_a_budget_refuses_once_spent_and_counts_to_the_second(make: MakeLimiter) -> None:
    clock = Clock(2_000_000.2)
    limiter = make({}, clock)
    await limiter.check("k", 150, 60.0)  # nothing spent yet
    await limiter.spend("k", 100, 60.0)
    clock.now = 2_000_030.5
    await limiter.check("k", 150, 60.0)
    await limiter.spend("k", 50, 60.0)
    clock.now = 2_000_031.0
    with pytest.raises(LimitExceeded) as refused:
        await limiter.check("k", 150, 60.0)
    assert refused.value.retry_after == pytest.approx(29.0)  # second 2,000,000 leaves at 60
    clock.now = 2_000_060.0
    await limiter.check("k", 150, 60.0)  # 50 left in the window
    await limiter.check("other", 1, 60.0)


# ------------------------------------------------------------------------ the store itself


async def test_the_status_names_the_backend(make: MakeLimiter) -> None:
    status = await make({}, Clock()).status()
    assert status.available and not status.refusing
    assert status.backend in ("memory", "redis")
