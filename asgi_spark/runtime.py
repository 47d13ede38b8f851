"""The :class:`Runtime`: everything a running gateway owns, built by one function, closed by one
exit stack.

A runtime holds the loaded configuration, one adapter per model, the limiter, the warm
connection pools of the models that have one (:mod:`.adapters.pool`, readable with
:meth:`Runtime.pool_stats`), and per model the composed call (policies around the adapter, see
:mod:`.pipeline`), each resource registered on the same exit stack, so closing the runtime
closes every pooled socket; :meth:`Runtime.readings` reports its state to the metrics.  It is
immutable once built:
a new configuration means a new runtime (:meth:`asgi_spark.gateway.Gateway.reload`), swapped
in atomically.  Requests hold the runtime they started on (:meth:`Runtime.use`); a retired
runtime closes when its last request ends, so requests in flight finish on the configuration
they started with.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import MappingProxyType

from .adapters.base import Adapter, WebSocketAdapter
from .adapters.pool import PoolStats, WarmPool
from .config import GatewayConfig, build_adapters
from .config.limits import LimitsSettings, model_rates
from .errors import ModelNotFoundError
from .gauges import Reading
from .limits import Lease, Limiter, LimitStatus
from .limits.memory import MemoryLimiter
from .pipeline import CallNext, Policy, adapter_call, compose
from .policies.choices import choices
from .policies.fallback import fallback
from .policies.key_limits import key_limits
from .policies.limit import limit, rate
from .policies.retry import Backoff, retry
from .policies.stop import stop
from .policies.structured import structured
from .readiness import NotReady

logger = logging.getLogger("asgi_spark")


class Runtime:
    """What a running gateway owns; build it with :func:`build_runtime`."""

    def __init__(
        self,
        config: GatewayConfig,
        adapters: Mapping[str, Adapter],
        limiter: Limiter,
        stack: contextlib.AsyncExitStack,
        pools: Mapping[str, WarmPool] | None = None,
        outer: Sequence[Policy] = (),
    ) -> None:
        self.config = config
        self.adapters: Mapping[str, Adapter] = MappingProxyType(dict(adapters))
        self.limiter = limiter
        #: The warm pool of each model that has one, by model id.
        self.pools: Mapping[str, WarmPool] = MappingProxyType(dict(pools or {}))
        self.created = int(time.time())
        self._calls = _compose_models(config, adapters, limiter, self.pools, outer)
        self._stack = stack
        self._users = 0
        self._streams = 0
        self._retired = False
        self._closed = False

    # ----------------------------------------------------------------------------- routing

    def route(self, model_id: str) -> CallNext:
        """The composed call of ``model_id``, or :class:`ModelNotFoundError` listing the ids."""
        call = self._calls.get(model_id)
        if call is None:
            available = ", ".join(sorted(self._calls)) or "none"
            raise ModelNotFoundError(
                f"The model '{model_id}' does not exist on this gateway (available: {available})",
                param="model",
            )
        return call

    async def limit_status(self) -> LimitStatus:
        """Where the limits are kept and whether that store answers now (for ``/readyz``)."""
        return await self.limiter.status()

    async def not_ready(self, status: LimitStatus | None = None) -> list[NotReady]:
        """Why this runtime should get no new traffic now (``/readyz``, gathered by
        :meth:`~asgi_spark.gateway.Gateway.not_ready`): the limits' store unreachable with
        ``fail_closed``.  ``status``: the :meth:`limit_status` just read, if any."""
        status = status or await self.limit_status()
        if not status.refusing:
            return []
        return [
            NotReady(
                "limit_store_unavailable",
                f"the limits' store ({status.backend}) cannot be reached and "
                "limits.on_unavailable is fail_closed",
            )
        ]

    def pool_stats(self) -> dict[str, PoolStats]:
        """Each pool's state (idle, opening, used, discarded, failed) by model id."""
        return {model_id: pool.stats() for model_id, pool in self.pools.items()}

    # --------------------------------------------------------------------------- lifecycle

    @property
    def in_flight(self) -> int:
        """Requests currently using this runtime."""
        return self._users

    @property
    def open_streams(self) -> int:
        """Streaming requests currently using this runtime."""
        return self._streams

    @property
    def closed(self) -> bool:
        return self._closed

    def use(self) -> contextlib.AbstractAsyncContextManager[Runtime]:
        """Hold the runtime for one request; a retired runtime closes after its last one."""
        return Hold(self._itself)

    async def _itself(self) -> Runtime:
        return self

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """Count a streaming response while it is open (for the metrics)."""
        self._streams += 1
        try:
            yield
        finally:
            self._streams -= 1

    def readings(self) -> Iterator[Reading]:
        """The state now, for the metrics (:mod:`asgi_spark.gauges`): requests and streams in
        flight, each limit's slots, and what each adapter reports (its pool)."""
        yield Reading("in_flight_requests", "requests being answered", self._users)
        yield Reading("open_streams", "streaming responses open", self._streams)
        for key, capacity in self.config.capacities().items():
            labels = {"limit": key}
            yield Reading("limit_slots", "max_concurrency of each limit", capacity, labels)
            in_use = self.limiter.in_use(key)
            yield Reading("limit_slots_in_use", "upstream sessions holding a slot", in_use, labels)
        yield from self.limiter.readings()
        for model_id, pool in self.pools.items():
            yield from pool.readings(model_id)
        for model_id, adapter in self.adapters.items():
            for reading in adapter.readings():
                labels = {**reading.labels, "model": model_id}
                yield Reading(reading.name, reading.help, reading.value, labels)

    async def retire(self) -> None:
        """No new requests come; close now if idle, else when the last request ends."""
        self._retired = True
        if self._users == 0:
            await self.aclose()

    async def aclose(self) -> None:
        """Close everything the runtime owns (in reverse order of acquisition).  Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stack.aclose()


RuntimeFactory = Callable[[], Awaitable[Runtime]]


class _Pools:
    """The pools sharing one limiter key, as the limit policy's ``room``."""

    def __init__(self, pools: Sequence[WarmPool]) -> None:
        self._pools = tuple(pools)

    async def make_room(self) -> Lease | None:
        for pool in self._pools:
            lease = await pool.make_room()
            if lease is not None:
                return lease
        return None

    def released(self) -> None:
        for pool in self._pools:
            pool.released()


class Hold:
    """Holds the runtime ``current()`` gives for one request (:meth:`Runtime.use`): a small
    object rather than a generator context manager, one per request."""

    __slots__ = ("_current", "_runtime")

    def __init__(self, current: Callable[[], Awaitable[Runtime]]) -> None:
        self._current = current
        self._runtime: Runtime | None = None

    async def __aenter__(self) -> Runtime:
        runtime = self._runtime = await self._current()
        runtime._users += 1
        return runtime

    async def __aexit__(self, *exc: object) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime._users -= 1
            if runtime._users == 0 and runtime._retired:
                await runtime.aclose()


def _compose_models(
    config: GatewayConfig,
    adapters: Mapping[str, Adapter],
    limiter: Limiter,
    pools: Mapping[str, WarmPool],
    first: Sequence[Policy] = (),
) -> dict[str, CallNext]:
    """Each model's call: ``first`` (the gateway's drain), the emulations (stop, ...), then
    ``fallback(candidates)`` around its
    own ``limit(choices(retry(adapter)))``;
    every candidate keeps its own limit and retries (a fallback's fallbacks are not followed,
    so chains cannot loop), with ``rate`` (``max_qps``) innermost, around each upstream
    request.  The pools of a limiter key make room in its limit.  The client keys' limits
    wrap everything, when any key has one."""
    by_key: dict[str, list[WarmPool]] = {}
    for model_id, pool in pools.items():
        by_key.setdefault(adapters[model_id].entry.limit_key, []).append(pool)
    rates = model_rates(adapter.entry for adapter in adapters.values())
    keyed = [
        key
        for key in config.api_keys or ()
        if key.requests_per_minute is not None or key.tokens_per_minute is not None
    ]
    outermost = [key_limits(limiter, {key.name: key for key in keyed})] if keyed else []
    candidates: dict[str, CallNext] = {}
    for model_id, adapter in adapters.items():
        entry = adapter.entry
        layers: list[Policy] = []
        if entry.max_concurrency is not None or entry.limit_group is not None:
            key = entry.limit_key
            room = _Pools(by_key[key]) if key in by_key else None
            layers.append(limit(limiter, key, queue_timeout=entry.queue_timeout, room=room))
        layers.append(choices(entry.max_n))
        if entry.retry.enabled and entry.retry.max_retries > 0:
            r = entry.retry
            backoff = Backoff(
                max_retries=r.max_retries,
                initial_delay=r.initial_delay,
                max_delay=r.max_delay,
                exponential_base=r.exponential_base,
                jitter=r.jitter,
            )
            layers.append(retry(backoff, deadline=entry.effective_timeouts().total))
        max_qps = rates.get(entry.limit_key)
        if max_qps is not None:
            layers.append(
                rate(limiter, entry.limit_key, max_qps, queue_timeout=entry.queue_timeout)
            )
        candidates[model_id] = compose(layers, adapter_call(adapter))
    calls: dict[str, CallNext] = {}
    for model_id, adapter in adapters.items():
        fallbacks = adapter.entry.fallbacks
        entry = adapter.entry
        outer: list[Policy] = [
            *first,
            *outermost,
            structured(functions=adapter.supports_functions, retries=entry.structured_retries),
            *EMULATIONS,
        ]
        if fallbacks:
            outer.append(fallback(fallbacks, candidates.__getitem__))
        calls[model_id] = compose(outer, candidates[model_id])
    return calls


#: The policies that emulate what Spark lacks, outermost first; each passes a request that does
#: not use it straight through.
EMULATIONS: tuple[Policy, ...] = (stop,)


async def build_runtime(
    config: GatewayConfig,
    *,
    adapters: Mapping[str, Adapter] | None = None,
    stack: contextlib.AsyncExitStack | None = None,
    outer: Sequence[Policy] = (),
) -> Runtime:
    """Build a runtime for ``config``; everything opened is closed if building fails.

    ``adapters`` are the config's adapters when already built (and so validated) by the caller.
    ``stack`` may already own resources (the demo's simulator): the runtime takes it over.
    ``outer`` policies wrap every model's call first (the gateway's drain).
    """
    stack = stack or contextlib.AsyncExitStack()
    async with contextlib.AsyncExitStack() as guard:
        guard.push_async_callback(stack.aclose)
        if adapters is None:
            adapters = build_adapters(config)
        for adapter in adapters.values():
            stack.push_async_callback(adapter.aclose)
        limiter = build_limiter(config.limits, config.capacities())
        stack.push_async_callback(limiter.aclose)
        pools = _build_pools(adapters, limiter, stack)
        runtime = Runtime(config, adapters, limiter, stack, pools, outer)
        for pool in pools.values():
            pool.start()
        guard.pop_all()
    return runtime


def build_limiter(settings: LimitsSettings, capacities: Mapping[str, int]) -> Limiter:
    """The limiter the ``limits`` block asks for (``max_concurrency`` per limiter key)."""
    if settings.backend == "memory":
        return MemoryLimiter(capacities)
    from .limits.redis_backend import RedisLimiter  # the redis extra: imported when used

    assert settings.url is not None  # checked when the configuration was loaded
    return RedisLimiter(
        settings.url,
        capacities,
        lease_seconds=settings.lease_seconds,
        on_unavailable=settings.on_unavailable,
        key_prefix=settings.key_prefix,
    )


def _build_pools(
    adapters: Mapping[str, Adapter], limiter: Limiter, stack: contextlib.AsyncExitStack
) -> dict[str, WarmPool]:
    """A warm pool for each WebSocket model with ``pool.size`` > 0, as its connector."""
    pools: dict[str, WarmPool] = {}
    for model_id, adapter in adapters.items():
        settings = adapter.entry.pool
        if settings.size == 0:
            continue
        if not isinstance(adapter, WebSocketAdapter):
            logger.warning("model %r: its adapter opens no WebSocket; pool ignored", model_id)
            continue
        pool = WarmPool(
            sign=adapter.build_url,
            timeouts=adapter.timeouts(),
            proxy=adapter.proxy(),
            refusal=adapter.handshake_error,
            size=settings.size,
            max_idle=settings.max_idle,
            limiter=limiter,
            key=adapter.entry.limit_key,
            name=model_id,
        )
        stack.push_async_callback(pool.aclose)
        adapter.connector = pool
        pools[model_id] = pool
    return pools


__all__ = ["Hold", "Runtime", "RuntimeFactory", "build_limiter", "build_runtime"]
