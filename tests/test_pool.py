"""The warm pool (asgi_spark/adapters/pool.py) against the simulator over loopback.

Nothing here waits on time: the pool's clock and the signing clocks are fakes the tests move,
every wait is on the pool's own state changes (``pool.until``) or on the simulator's count of
open TCP connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asgi_spark.adapters.connector import Timeouts
from asgi_spark.adapters.pool import PoolStats, WarmPool
from asgi_spark.adapters.spark.adapter import SparkAdapter
from asgi_spark.config import load_config
from asgi_spark.errors import GatewayError
from asgi_spark.events import Connected, Event, Failed, fold
from asgi_spark.limits.memory import MemoryLimiter
from asgi_spark.openai_types import ChatCompletionRequest, request_decoder
from asgi_spark.pipeline import Call, RequestContext
from asgi_spark.runtime import Runtime, build_runtime
from asgi_spark.simulator import Faults, SparkSimulator

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "m",
        "adapter": "websocket_xunfei",
        "base_url": url,
        "api_key": "demo-key",
        "proxy": None,
        "config": {"app_id": "demo-app", "api_secret": "demo-secret"},
        **extra,
    }


def ask(text: str = "hi", *, stream: bool = True) -> ChatCompletionRequest:
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}
    return request_decoder.decode(json.dumps(body))


class Signer:
    """The adapter's build_url, counted."""

    def __init__(self, adapter: SparkAdapter) -> None:
        self.adapter = adapter
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.adapter.build_url()


@contextlib.asynccontextmanager
async def pooled(
    sim: SparkSimulator,
    *,
    size: int = 2,
    max_idle: float = 50.0,
    clock: FakeClock | None = None,
    signing: FakeClock | None = None,
    capacity: int | None = None,
) -> AsyncIterator[tuple[WarmPool, SparkAdapter, Signer]]:
    """A Spark adapter whose connector is a started pool (closed on exit)."""
    config = load_config([entry(sim.url)])
    adapter = SparkAdapter(config.models[0], clock=signing or time.time)
    signer = Signer(adapter)
    limiter = MemoryLimiter({"m": capacity} if capacity else {})
    pool = WarmPool(
        sign=signer,
        timeouts=adapter.timeouts(),
        proxy=None,
        refusal=adapter.handshake_error,
        size=size,
        max_idle=max_idle,
        limiter=limiter,
        key="m",
        clock=clock or FakeClock(0.0),
        name="m",
    )
    adapter.connector = pool
    pool.start()
    try:
        yield pool, adapter, signer
    finally:
        await pool.aclose()


async def answer(adapter: SparkAdapter, text: str = "hi") -> list[Event]:
    events: list[Event] = []
    async with contextlib.aclosing(adapter.stream(ask(text))) as source:
        async for batch in source:
            events += batch
    return events


def full(size: int) -> Any:
    return lambda s: s.idle == size and s.opening == 0


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(record_requests=False) as simulator:
        yield simulator


# ------------------------------------------------------------------------- filling, use


async def test_the_pool_opens_size_connections_ahead_of_demand(sim: SparkSimulator) -> None:
    async with pooled(sim, size=3) as (pool, _, signer):
        await pool.until(full(3))
        assert sim.open_connections == 3
        assert signer.calls == 3  # each connection signed for itself


async def test_a_pooled_connection_is_used_once_and_replaced(sim: SparkSimulator) -> None:
    async with pooled(sim, size=2) as (pool, adapter, signer):
        await pool.until(full(2))
        events = await answer(adapter)
        connected = events[0]
        assert isinstance(connected, Connected)
        assert connected.pooled and connected.connect == 0.0
        assert fold(events).finish == "stop"
        stats = await pool.until(lambda s: s.used == 1 and s.idle == 2)
        assert stats.discarded == 0 and stats.failed == 0
        assert signer.calls == 3  # the replacement was signed anew
        # the used connection is closed: two idle ones are left
        await _until_open(sim, 2)


async def test_without_an_idle_connection_the_request_connects_itself(
    sim: SparkSimulator,
) -> None:
    sim.faults = Faults(handshake_status=503, times=1)  # the pool's only open fails
    async with pooled(sim, size=1) as (pool, adapter, _):
        await pool.until(lambda s: s.failed == 1)
        assert pool.stats().idle == 0  # backing off
        events = await answer(adapter)
        connected = events[0]
        assert isinstance(connected, Connected) and not connected.pooled
        assert fold(events).finish == "stop"


# ----------------------------------------------------------------------- expiry, signing


async def test_idle_connections_are_discarded_at_max_idle_and_replaced(
    sim: SparkSimulator,
) -> None:
    clock = FakeClock(0.0)
    async with pooled(sim, size=2, max_idle=50.0, clock=clock) as (pool, _, signer):
        await pool.until(full(2))
        clock.now = 49.9
        pool.wake()
        await asyncio.sleep(0)  # let the pool look (it finds nothing to do)
        assert pool.stats().discarded == 0
        clock.now = 50.0
        pool.wake()
        stats = await pool.until(lambda s: s.discarded == 2 and s.idle == 2)
        assert stats.used == 0
        assert signer.calls == 4
        await _until_open(sim, 2)


async def test_replacements_are_signed_again_so_the_upstream_accepts_them() -> None:
    """The simulator checks the signed date within ±300 s of its clock.  Ten minutes on, a
    connection signed at the start would be refused: the pool's replacements are not."""
    server_clock, signing = FakeClock(T0), FakeClock(T0)
    pool_clock = FakeClock(0.0)
    async with (
        SparkSimulator(clock=server_clock, record_requests=False) as sim,
        pooled(sim, size=2, clock=pool_clock, signing=signing) as (pool, adapter, _),
    ):
        await pool.until(full(2))
        for minute in range(1, 11):
            server_clock.now = signing.now = T0 + 60 * minute
            pool_clock.now = 60.0 * minute
            pool.wake()
            await pool.until(lambda s, m=minute: s.discarded == 2 * m and s.idle == 2)
        assert pool.stats().failed == 0
        events = await answer(adapter)
        assert isinstance(events[0], Connected) and events[0].pooled
        assert not any(isinstance(e, Failed) for e in events)


def test_max_idle_is_capped_below_the_signature_lifetime() -> None:
    limiter = MemoryLimiter({})
    pool = WarmPool(
        sign=str,
        timeouts=Timeouts(),
        proxy=None,
        refusal=lambda s, b: GatewayError("x"),
        size=1,
        max_idle=10_000.0,
        limiter=limiter,
        key="m",
    )
    assert pool.max_idle == 300.0


# ------------------------------------------------------------------------ dead connections


async def test_a_pooled_connection_dropped_before_answering_is_replaced_unseen(
    sim: SparkSimulator,
) -> None:
    """The upstream aborts the pooled connections as soon as a request arrives (as if it had
    dropped them while idle): the request is sent again on a fresh connection."""
    sim.faults = Faults(close_after=0, times=2)  # the pool's two connections
    async with pooled(sim, size=2) as (pool, adapter, _):
        await pool.until(full(2))
        events = await answer(adapter)
        assert not any(isinstance(e, Failed) for e in events)
        connected = events[0]
        assert isinstance(connected, Connected) and not connected.pooled
        stats = pool.stats()
        assert stats.used == 0 and stats.discarded == 1


async def test_a_pooled_connection_found_closed_is_skipped(sim: SparkSimulator) -> None:
    async with pooled(sim, size=2) as (pool, adapter, _):
        await pool.until(full(2))
        first = pool._idle[0].ws
        first.transport.abort()
        await first.wait_closed()
        events = await answer(adapter)
        assert isinstance(events[0], Connected) and events[0].pooled
        stats = await pool.until(lambda s: s.idle == 2)
        assert stats.discarded == 1 and stats.used == 1


# --------------------------------------------------------------------------------- limits


async def _runtime(sim: SparkSimulator, **extra: Any) -> Runtime:
    return await build_runtime(load_config([entry(sim.url, **extra)]))


async def _hold(runtime: Runtime) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A streamed request that stays in flight (the upstream hangs after one frame)."""
    started = asyncio.Event()

    async def run() -> None:
        context = RequestContext(endpoint="chat.completions", requested_model="m")
        source = runtime.route("m")(Call(ask("x [spark:hang_after=1]"), "m", context))
        async with contextlib.aclosing(source):
            async for _ in source:
                started.set()

    task = asyncio.ensure_future(run())
    await started.wait()
    return task, started


async def test_idle_pooled_connections_count_against_max_concurrency(
    sim: SparkSimulator,
) -> None:
    runtime = await _runtime(sim, max_concurrency=3, queue_timeout=0, pool={"size": 2})
    pool = runtime.pools["m"]
    try:
        await pool.until(full(2))
        assert runtime.limiter.in_use("m") == 2
        first, _ = await _hold(runtime)  # takes a warm one; the pool fills again
        await pool.until(full(2))
        assert runtime.limiter.in_use("m") == 3
        assert sim.open_connections == 3
        # the limit is full of 1 request + 2 idle: a second request makes room and is served
        second, _ = await _hold(runtime)
        stats = await pool.until(lambda s: s.used == 2 and s.opening == 0)
        assert stats.discarded == 1  # closed to make room
        assert runtime.limiter.in_use("m") == 3  # 2 requests + the 1 idle left
        assert stats.idle == 1
        # a third request is refused (queue_timeout 0) after taking the last idle slot away
        third = await _collect(runtime, "hello")
        assert third.failure is None
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        await pool.until(full(2))
        assert runtime.limiter.in_use("m") == 2
    finally:
        await runtime.aclose()
    await sim.wait_closed_all()


async def test_a_full_limit_refuses_when_nothing_is_idle(sim: SparkSimulator) -> None:
    runtime = await _runtime(sim, max_concurrency=2, queue_timeout=0, pool={"size": 1})
    pool = runtime.pools["m"]
    try:
        await pool.until(full(1))
        held = [await _hold(runtime) for _ in range(2)]  # 2 requests: nothing left idle
        await pool.until(lambda s: s.idle == 0 and s.opening == 0)
        refused = await _collect(runtime, "hello")
        assert refused.failure is not None and refused.failure.status == 429
        for task, _ in held:
            task.cancel()
        await asyncio.gather(*(t for t, _ in held), return_exceptions=True)
    finally:
        await runtime.aclose()


async def _collect(runtime: Runtime, text: str) -> Any:
    context = RequestContext(endpoint="chat.completions", requested_model="m")
    events: list[Event] = []
    async with contextlib.aclosing(runtime.route("m")(Call(ask(text), "m", context))) as src:
        async for batch in src:
            events += batch
    return fold(events)


# ------------------------------------------------------------------------------- shutdown


async def test_closing_the_runtime_closes_every_pooled_socket(sim: SparkSimulator) -> None:
    runtime = await _runtime(sim, pool={"size": 3})
    await runtime.pools["m"].until(full(3))
    assert runtime.pool_stats()["m"] == PoolStats(3, 3, 0, 0, 0, 0)
    await runtime.aclose()
    assert runtime.pool_stats()["m"].discarded == 3
    await asyncio.wait_for(sim.wait_closed_all(), 5)
    assert sim.open_connections == 0


async def test_closing_while_connections_are_opening_leaves_no_socket(
    sim: SparkSimulator,
) -> None:
    sim.faults = Faults(handshake_delay=30.0)  # the handshakes will not finish by themselves
    runtime = await _runtime(sim, pool={"size": 2})
    await _until_open(sim, 2)  # both handshakes are under way
    assert runtime.pool_stats()["m"].opening == 2
    await runtime.aclose()
    await asyncio.wait_for(sim.wait_closed_all(), 5)
    assert sim.open_connections == 0
    assert runtime.pool_stats()["m"].idle == 0


async def test_a_request_through_the_runtime_is_recorded_as_pooled(
    sim: SparkSimulator,
) -> None:
    runtime = await _runtime(sim, pool={"size": 1})
    try:
        await runtime.pools["m"].until(full(1))
        context = RequestContext(endpoint="chat.completions", requested_model="m")
        async with contextlib.aclosing(runtime.route("m")(Call(ask(), "m", context))) as src:
            async for _ in src:
                pass
        assert context.pooled and context.upstream_connect == 0.0
        assert context.upstream_sent is not None and context.upstream_first is not None
    finally:
        await runtime.aclose()


async def _until_open(sim: SparkSimulator, n: int) -> None:
    """Wait (on the simulator's own accept/close events, polled per loop turn) until exactly
    ``n`` connections are open."""
    for _ in range(100_000):
        if sim.open_connections == n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{sim.open_connections} connections open, expected {n}")


# ------------------------------------------------------------------------- configuration


def test_check_config_accepts_and_shows_the_pool(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from asgi_spark.cli import main

    path = tmp_path / "models.json"
    path.write_text(json.dumps([entry("ws://127.0.0.1:9", pool={"size": 4, "max_idle": 40})]))
    assert main(["check-config", str(path)]) == 0
    assert "pool: 4, max_idle 40 s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"pool": {"size": 2, "max_idle": 60}}, "pool.max_idle': Expected `float` < 60"),
        ({"pool": {"size": -1}}, "pool.size"),
        ({"pool": {"size": 2, "idle": 5}}, "pool"),
        ({"pool": {"size": 3}, "max_concurrency": 3}, "fewer than max_concurrency (3)"),
    ],
)
def test_bad_pool_blocks_are_refused(extra: dict[str, Any], message: str) -> None:
    from asgi_spark.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config([entry("ws://127.0.0.1:9", **extra)])
    assert message in str(info.value)


def test_no_pool_block_means_no_pool() -> None:
    config = load_config([entry("ws://127.0.0.1:9")])
    assert config.models[0].pool.size == 0 and config.models[0].pool.max_idle == 50.0
