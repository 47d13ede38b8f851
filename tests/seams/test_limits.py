"""The in-memory limiter and the limit policy: slots at once or not at all, bounded waits."""

from __future__ import annotations

import asyncio

import pytest

from asgi_spark.events import Event, Failed, Finish, Started
from asgi_spark.limits import LimitExceeded
from asgi_spark.limits.memory import MemoryLimiter
from asgi_spark.openai_types import request_decoder
from asgi_spark.pipeline import Call, RequestContext, Source
from asgi_spark.policies.limit import limit

BODY = request_decoder.decode(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')


async def test_slots_up_to_the_capacity_then_a_refusal() -> None:
    limiter = MemoryLimiter({"m": 2})
    a = await limiter.acquire("m", timeout=0)
    b = await limiter.acquire("m", timeout=0)
    assert limiter.in_use("m") == 2
    with pytest.raises(LimitExceeded) as info:
        await limiter.acquire("m", timeout=0)
    assert info.value.status == 429 and info.value.retry_after > 0
    assert "all 2 concurrent upstream sessions of 'm' are busy" in info.value.message
    await a.release()
    await a.release()  # idempotent
    assert limiter.in_use("m") == 1
    await b.release()
    assert limiter.in_use("m") == 0


async def test_keys_without_a_capacity_are_unlimited() -> None:
    limiter = MemoryLimiter({})
    leases = [await limiter.acquire("free", 5, timeout=0) for _ in range(10)]
    assert limiter.in_use("free") == 0
    for lease in leases:
        await lease.release()


async def test_n_slots_come_at_once_or_not_at_all() -> None:
    limiter = MemoryLimiter({"m": 3})
    one = await limiter.acquire("m")
    waiter = asyncio.ensure_future(limiter.acquire("m", 3))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert limiter.in_use("m") == 1  # nothing held partially
    await one.release()
    lease = await asyncio.wait_for(waiter, 1)
    assert limiter.in_use("m") == 3
    await lease.release()


async def test_more_slots_than_the_capacity_is_refused_at_once() -> None:
    with pytest.raises(LimitExceeded, match="needs 3 concurrent upstream sessions"):
        await MemoryLimiter({"m": 2}).acquire("m", 3)


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = MemoryLimiter({"m": 2})
    held = await limiter.acquire("m", 2)
    big = asyncio.ensure_future(limiter.acquire("m", 2))
    await asyncio.sleep(0)
    small = asyncio.ensure_future(limiter.acquire("m", 1))
    await asyncio.sleep(0)
    await held.release()
    big_lease = await asyncio.wait_for(big, 1)
    assert not small.done()  # the small one does not overtake the big one
    await big_lease.release()
    await (await asyncio.wait_for(small, 1)).release()


async def test_a_bounded_wait_ends_in_a_refusal_and_leaves_the_queue() -> None:
    limiter = MemoryLimiter({"m": 1})
    held = await limiter.acquire("m")
    with pytest.raises(LimitExceeded, match=r"waited 0\.01 s"):
        await limiter.acquire("m", timeout=0.01)
    await held.release()
    assert limiter.in_use("m") == 0
    await (await limiter.acquire("m", timeout=0)).release()


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    limiter = MemoryLimiter({"m": 1})
    held = await limiter.acquire("m")
    waiter = asyncio.ensure_future(limiter.acquire("m"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await held.release()
    assert limiter.in_use("m") == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryLimiter({"m": 0})


def _call() -> Call:
    return Call(BODY, "m", RequestContext(endpoint="chat.completions", requested_model="m"))


async def test_the_limit_policy_holds_the_slot_while_the_answer_flows() -> None:
    limiter = MemoryLimiter({"m": 1})
    seen: list[int] = []

    async def adapter(call: Call) -> Source:
        seen.append(limiter.in_use("m"))
        yield [Started("s"), Finish("stop")]

    source = limit(limiter, "m", queue_timeout=0)(_call(), adapter)
    batches: list[list[Event]] = [batch async for batch in source]
    assert batches == [[Started("s"), Finish("stop")]]
    assert seen == [1]
    assert limiter.in_use("m") == 0


async def test_the_slot_is_released_when_the_client_goes_away_early() -> None:
    limiter = MemoryLimiter({"m": 1})

    async def adapter(call: Call) -> Source:
        yield [Started("s")]
        await asyncio.Event().wait()  # never finishes
        yield []

    source = limit(limiter, "m", queue_timeout=0)(_call(), adapter)
    assert await source.__anext__() == [Started("s")]
    assert limiter.in_use("m") == 1
    await source.aclose()
    assert limiter.in_use("m") == 0


async def test_a_refusal_is_a_failed_event_and_recorded() -> None:
    limiter = MemoryLimiter({"m": 1})
    held = await limiter.acquire("m")
    call = _call()

    async def adapter(call: Call) -> Source:
        raise AssertionError("must not be called")
        yield []

    batches = [batch async for batch in limit(limiter, "m", queue_timeout=0)(call, adapter)]
    assert len(batches) == 1 and isinstance(batches[0][0], Failed)
    assert batches[0][0].error.status == 429
    assert call.context.limit_rejected
    await held.release()
