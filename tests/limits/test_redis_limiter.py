"""What only the Redis limiter does: leases that expire after a crash and are renewed while
held, and the ``on_unavailable`` policies when Redis cannot be reached (a closed port, then a
server started on it)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator

import pytest

from asgi_spark.errors import LimitStoreUnavailableError
from asgi_spark.limits import LimitExceeded
from asgi_spark.secrets import Secret
from tests.limits.redis_server import prefix, started
from tests.limits.test_limiters import Clock
from tests.ops.process import free_port

pytest.importorskip("redis")

from asgi_spark.limits.redis_backend import RedisLimiter

PASSWORD = "s3cret-redis-pw"


def two_limiters(url: str, clock: Clock | None = None) -> tuple[RedisLimiter, RedisLimiter]:
    """Two limiters on one Redis, like two processes: one slot of "m", leases of 10 s."""
    shared = prefix()
    first, second = (
        RedisLimiter(
            Secret(url),
            {"m": 1},
            lease_seconds=10,
            on_unavailable="fail_closed",
            key_prefix=shared,
            clock=clock,
        )
        for _ in range(2)
    )
    return first, second


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisLimiter, RedisLimiter, Clock]]:
    """Two limiters on one Redis, a clock the test moves."""
    clock = Clock()
    made = two_limiters(redis_url, clock)
    yield made[0], made[1], clock
    for limiter in made:
        await limiter.aclose()


async def test_a_crashed_process_slot_comes_back_after_its_lease(
    pair: tuple[RedisLimiter, RedisLimiter, Clock],
) -> None:
    crashed, other, clock = pair
    await crashed.acquire("m", 1, timeout=0)  # never released: the process dies
    await crashed.aclose()
    clock.now += 9.9
    with pytest.raises(LimitExceeded):
        await other.acquire("m", 1, timeout=0)
    clock.now += 0.2  # 10.1 s after the last renewal
    lease = await other.acquire("m", 1, timeout=0)
    await lease.release()


async def test_a_held_lease_is_renewed(pair: tuple[RedisLimiter, RedisLimiter, Clock]) -> None:
    holder, other, clock = pair
    lease = await holder.acquire("m", 1, timeout=0)
    clock.now += 8
    await holder.renew()  # what the holder does every lease_seconds / 3
    clock.now += 8  # 16 s after the acquire, 8 after the renewal
    with pytest.raises(LimitExceeded):
        await other.acquire("m", 1, timeout=0)
    clock.now += 2.5
    await (await other.acquire("m", 1, timeout=0)).release()
    await lease.release()


async def test_a_release_gives_the_slot_back_at_once(
    pair: tuple[RedisLimiter, RedisLimiter, Clock],
) -> None:
    holder, other, _clock = pair
    lease = await holder.acquire("m", 1, timeout=0)
    await lease.release()
    await (await other.acquire("m", 1, timeout=0)).release()


async def test_a_waiter_in_another_process_wakes_on_the_release(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgi_spark.limits import redis_backend

    monkeypatch.setattr(redis_backend, "POLL", 30.0)  # only the published release can wake it
    holder, waiter = two_limiters(redis_url)
    try:
        lease = await holder.acquire("m", 1, timeout=0)
        waiting = asyncio.ensure_future(waiter.acquire("m", 1, timeout=20))
        await asyncio.wait_for(waiter._subscribed.wait(), 5)  # it listens for releases now
        await lease.release()
        got = await asyncio.wait_for(waiting, 5)  # long before the 30 s poll
        await got.release()
    finally:
        await holder.aclose()
        await waiter.aclose()


async def test_a_release_while_redis_is_left_alone_does_not_ask_it(
    pair: tuple[RedisLimiter, RedisLimiter, Clock],
) -> None:
    holder, other, clock = pair
    lease = await holder.acquire("m", 1, timeout=0)
    holder._mark_down()  # as after a failed operation: Redis is left alone for a second
    await lease.release()  # returns at once: the lease is left to expire
    assert holder.in_use("m") == 0
    with pytest.raises(LimitExceeded):
        await other.acquire("m", 1, timeout=0)  # still held in Redis
    clock.now += 10.1
    await (await other.acquire("m", 1, timeout=0)).release()


def unreachable(policy: str, port: int) -> RedisLimiter:
    return RedisLimiter(
        Secret(f"redis://:{PASSWORD}@127.0.0.1:{port}/0"),
        {"m": 1},
        lease_seconds=10,
        on_unavailable=policy,  # type: ignore[arg-type]
        key_prefix=prefix(),
    )


async def test_fail_open_admits_everything_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    limiter = unreachable("fail_open", free_port())
    caplog.set_level(logging.WARNING, "asgi_spark")
    try:
        leases = [await limiter.acquire("m", 1, timeout=0) for _ in range(3)]
        await limiter.hit("q", 1, 1.0)
        await limiter.hit("q", 1, 1.0)
        await limiter.check("k", 1, 60.0)
        await limiter.spend("k", 10, 60.0)
        for lease in leases:
            await lease.release()
        status = await limiter.status()
        assert (status.backend, status.available, status.refusing) == ("redis", False, False)
        readings = {r.name: r.value for r in limiter.readings()}
        assert readings == {"limit_store_up": 0, "limit_store_bypassed": 6}
    finally:
        await limiter.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not once per request
    assert "admitting requests without limits" in warnings[0]
    assert PASSWORD not in caplog.text and "127.0.0.1" not in caplog.text


async def test_fail_closed_refuses_with_503() -> None:
    limiter = unreachable("fail_closed", free_port())
    try:
        for attempt in (
            limiter.acquire("m", 1, timeout=0),
            limiter.hit("q", 1, 1.0),
            limiter.check("k", 1, 60.0),
        ):
            with pytest.raises(LimitStoreUnavailableError) as refused:
                await attempt
            error = refused.value
            assert (error.status, error.code) == (503, "limit_store_unavailable")
            assert "fail_closed" in error.message and PASSWORD not in error.message
            assert error.retry_after == 1.0
        assert (await limiter.status()).refusing
        await limiter.spend("k", 10, 60.0)  # an answer given is never refused afterwards
    finally:
        await limiter.aclose()


async def test_limits_apply_again_once_redis_answers(caplog: pytest.LogCaptureFixture) -> None:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("needs redis-server to start one on the limiter's port")
    port = free_port()
    limiter = RedisLimiter(
        Secret(f"redis://127.0.0.1:{port}/0"),
        {"m": 1},
        lease_seconds=10,
        on_unavailable="fail_closed",
        key_prefix=prefix(),
    )
    caplog.set_level(logging.WARNING, "asgi_spark")
    try:
        assert not (await limiter.status()).available
        with tempfile.TemporaryDirectory() as workdir, started(exe, port, workdir):
            assert (await limiter.status()).available  # /readyz asks: no waiting for a retry
            lease = await limiter.acquire("m", 1, timeout=0)
            with pytest.raises(LimitExceeded):
                await limiter.acquire("m", 1, timeout=0)
            await lease.release()
    finally:
        await limiter.aclose()
    assert "answers again: limits apply" in caplog.text
