"""The Redis :class:`~asgi_spark.limits.Limiter`: limits shared by every worker and replica.

Each operation is one Lua script (:mod:`.scripts`), atomic in Redis.  Slots are leases: the
limiter renews the leases of its process every third of ``lease_seconds`` while their
requests run, so the slots of a process that dies come back ``lease_seconds`` after its last
renewal.  A release is published on the prefix's channel; a request waiting for a slot asks
again as soon as any process releases one (one subscription per limiter, opened when the first
request waits), and every :data:`POLL` seconds anyway (a lease that expired; every
:data:`POLL_UNSUBSCRIBED` seconds while the subscription is down), within its ``timeout``.
Waiting for room in a rate sleeps exactly until the oldest event leaves the window.

When Redis cannot be reached (refused, timed out), the limiter stops asking it for
:data:`RECHECK` seconds and applies ``on_unavailable``: ``fail_open`` admits (a warning once per
outage; what is admitted holds no slot), ``fail_closed`` refuses with
:class:`~asgi_spark.errors.LimitStoreUnavailableError` (503).  Neither error nor log shows the
URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from itertools import count
from typing import Any, Final, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import LimitStoreUnavailableError
from ..gauges import Reading
from ..secrets import Secret
from . import LimitExceeded, LimitStatus, too_many
from .scripts import ACQUIRE, CHECK, HIT, RELEASE, RENEW, SPEND

logger = logging.getLogger("asgi_spark")

#: Seconds between two tries of a waiter for a slot when no release was announced (a lease
#: that expired frees a slot silently), and while the subscription to releases is down.
POLL: Final = 0.5
POLL_UNSUBSCRIBED: Final = 0.05
#: Seconds the limiter leaves an unreachable Redis alone before trying it again.
RECHECK: Final = 1.0
#: Seconds to connect to Redis, and to wait for one answer.
SOCKET_TIMEOUT: Final = 1.0

_UNREACHABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


class _Unavailable(Exception):
    """Redis cannot be reached now (internal: becomes the configured policy)."""


class _RedisLease:
    __slots__ = ("_key", "_limiter", "_members")

    def __init__(self, limiter: RedisLimiter | None, key: str, members: tuple[str, ...]) -> None:
        self._limiter = limiter
        self._key = key
        self._members = members

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            await limiter._give_back(self._key, self._members)


class RedisLimiter:
    """Slots, rates and budgets in the Redis server at ``url``; see the module docstring."""

    def __init__(
        self,
        url: Secret,
        capacities: Mapping[str, int],
        *,
        lease_seconds: float,
        on_unavailable: Literal["fail_open", "fail_closed"],
        key_prefix: str = "asgi-spark",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url.reveal(),
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._capacities = dict(capacities)
        self._lease_seconds = lease_seconds
        self._policy = on_unavailable
        self._prefix = key_prefix
        self._clock = clock  # None: Redis's TIME (tests move time themselves)
        self._scripts = {
            name: self._client.register_script(text)
            for name, text in (
                ("acquire", ACQUIRE),
                ("release", RELEASE),
                ("renew", RENEW),
                ("hit", HIT),
                ("spend", SPEND),
                ("check", CHECK),
            )
        }
        self._token = secrets.token_hex(6)
        self._ids = count(1)
        #: The members this process holds, by Redis key (renewed while held).
        self._held: dict[str, dict[str, tuple[str, ...]]] = {}
        self._in_use: dict[str, int] = {}
        #: One future per waiter, resolved by the next release heard of (registered before
        #: the waiter asks Redis, so a release meanwhile is not missed).
        self._waiters: set[asyncio.Future[None]] = set()
        self._channel = f"{key_prefix}:released"
        self._listener: asyncio.Task[None] | None = None
        #: Set while the subscription to releases is up.
        self._subscribed = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._down_until = 0.0
        self._available = True
        self._bypassed = 0

    # ----------------------------------------------------------------------------- slots

    async def acquire(self, key: str, n: int = 1, *, timeout: float | None = None) -> _RedisLease:
        capacity = self._capacities.get(key)
        if capacity is None:
            return _RedisLease(None, key, ())
        if n > capacity:
            raise too_many(capacity, n, f"concurrent upstream sessions of {key!r}")
        redis_key = f"{self._prefix}:slots:{key}"
        lease_id = f"{self._token}:{next(self._ids)}"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            released = asyncio.get_running_loop().create_future()
            self._waiters.add(released)
            try:
                try:
                    granted, _used = await self._script(
                        "acquire", [redis_key], n, capacity, self._lease_seconds, lease_id
                    )
                except _Unavailable:
                    self._admit_unavailable()
                    return _RedisLease(None, key, ())
                if granted:
                    members = tuple(f"{lease_id}#{i}" for i in range(1, n + 1))
                    self._hold(key, redis_key, lease_id, members)
                    return _RedisLease(self, key, members)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    waited = f" (waited {timeout:g} s)" if timeout else ""
                    raise LimitExceeded(
                        f"all {capacity} concurrent upstream sessions of {key!r} are busy{waited}"
                    )
                self._listen_for_releases()
                poll = POLL if self._subscribed.is_set() else POLL_UNSUBSCRIBED
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        released, poll if remaining is None else min(poll, remaining)
                    )
            finally:
                self._waiters.discard(released)

    def in_use(self, key: str) -> int:
        return self._in_use.get(key, 0)

    def _hold(self, key: str, redis_key: str, lease_id: str, members: tuple[str, ...]) -> None:
        self._held.setdefault(redis_key, {})[lease_id] = members
        self._in_use[key] = self._in_use.get(key, 0) + len(members)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _give_back(self, key: str, members: tuple[str, ...]) -> None:
        redis_key = f"{self._prefix}:slots:{key}"
        lease_id = members[0].rpartition("#")[0]
        held = self._held.get(redis_key, {})
        held.pop(lease_id, None)
        if not held:
            self._held.pop(redis_key, None)
        self._in_use[key] = self._in_use.get(key, 0) - len(members)
        try:
            await self._script("release", [redis_key, self._channel], *members)
        except _Unavailable:
            pass  # the lease expires by itself
        finally:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """A slot was released (here, or published by another process): every waiter asks
        again."""
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _listen_for_releases(self) -> None:
        """Subscribe to the releases of every process, once (again after a failure)."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self._subscribed.set()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=SOCKET_TIMEOUT
                )
                if message is not None:
                    self._wake_waiters()
        except _UNREACHABLE:
            pass  # waiters poll faster meanwhile; the next waiter subscribes again
        finally:
            self._subscribed.clear()
            await _close_quietly(pubsub.aclose())  # type: ignore[no-untyped-call]

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_seconds / 3)
            await self.renew()

    async def renew(self) -> None:
        """Extend every lease this process holds by ``lease_seconds`` from now (done every
        third of it while any is held; an unreachable Redis is tried at the next turn)."""
        for redis_key, leases in list(self._held.items()):
            members = [member for held in leases.values() for member in held]
            try:
                await self._script("renew", [redis_key], self._lease_seconds, *members)
            except _Unavailable:
                return

    # --------------------------------------------------------------------- rates, budgets

    async def hit(
        self, key: str, limit: int, window: float, *, n: int = 1, timeout: float | None = 0.0
    ) -> None:
        if n > limit:
            raise too_many(limit, n, f"requests of {key!r} at once, whose rate")
        redis_key = f"{self._prefix}:rate:{key}:{window:g}"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            event_id = f"{self._token}:{next(self._ids)}"
            try:
                done, wait = await self._script("hit", [redis_key], limit, window, n, event_id)
            except _Unavailable:
                self._admit_unavailable()
                return
            if done:
                return
            seconds = float(wait)
            if deadline is not None and time.monotonic() + seconds > deadline:
                raise LimitExceeded(
                    f"{key!r} allows {limit} requests per {window:g} s", retry_after=seconds
                )
            await asyncio.sleep(seconds)  # until the oldest event leaves the window

    async def check(self, key: str, limit: int, window: float) -> None:
        redis_key = f"{self._prefix}:budget:{key}:{window:g}"
        try:
            ok, wait = await self._script("check", [redis_key], limit, window)
        except _Unavailable:
            self._admit_unavailable()
            return
        if not ok:
            raise LimitExceeded(f"{key!r} allows {limit} per {window:g} s", retry_after=float(wait))

    async def spend(self, key: str, amount: int, window: float) -> None:
        redis_key = f"{self._prefix}:budget:{key}:{window:g}"
        with contextlib.suppress(_Unavailable):  # an answer already given is not refused
            await self._script("spend", [redis_key], amount, window)

    # -------------------------------------------------------------------- the store itself

    async def status(self) -> LimitStatus:
        try:
            await asyncio.wait_for(self._client.ping(), SOCKET_TIMEOUT)
        except _UNREACHABLE:
            self._mark_down()
        else:
            self._mark_up()
        return LimitStatus("redis", self._available, self._policy)

    def readings(self) -> Iterator[Reading]:
        labels = {"backend": "redis"}
        yield Reading(
            "limit_store_up", "1 while the limits' store answers", int(self._available), labels
        )
        yield Reading(
            "limit_store_bypassed",
            "requests admitted without the limits' store (fail_open) since start",
            self._bypassed,
            labels,
        )

    async def aclose(self) -> None:
        for task in (self._renewer, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._renewer = self._listener = None
        await self._client.aclose()

    async def _script(self, name: str, keys: list[str], *args: Any) -> Any:
        """Run one script; :class:`_Unavailable` when Redis does not answer, and at once while
        it is left alone after a failure (releases and renewals too: a lease expires by
        itself, and nothing on a request's path waits for a Redis that is down)."""
        if time.monotonic() < self._down_until:
            raise _Unavailable
        now = -1.0 if self._clock is None else self._clock()
        try:
            result = await self._scripts[name](keys=keys, args=[now, *args])
        except _UNREACHABLE as exc:
            self._mark_down(exc)
            raise _Unavailable from None
        self._mark_up()
        return result

    def _admit_unavailable(self) -> None:
        if self._policy == "fail_closed":
            raise LimitStoreUnavailableError(
                "the limits' store (Redis) cannot be reached, and limits.on_unavailable is "
                "fail_closed; try again shortly",
                retry_after=RECHECK,
            )
        self._bypassed += 1

    def _mark_down(self, exc: BaseException | None = None) -> None:
        self._down_until = time.monotonic() + RECHECK
        if self._available:
            self._available = False
            what = (
                "admitting requests without limits"
                if self._policy == "fail_open"
                else ("refusing requests (503)")
            )
            reason = f" ({type(exc).__name__})" if exc is not None else ""
            logger.warning(
                "the limits' store (Redis) cannot be reached%s: %s (limits.on_unavailable: %s)",
                reason,
                what,
                self._policy,
            )

    def _mark_up(self) -> None:
        self._down_until = 0.0
        if not self._available:
            self._available = True
            logger.warning("the limits' store (Redis) answers again: limits apply")


async def _close_quietly(closing: Awaitable[None]) -> None:
    with contextlib.suppress(*_UNREACHABLE):
        await closing


__all__ = ["POLL", "POLL_UNSUBSCRIBED", "RECHECK", "RedisLimiter"]
