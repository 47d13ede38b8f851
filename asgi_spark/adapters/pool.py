"""A warm pool of upstream connections: a :class:`~.connector.Connector` that has the
connection open before the request comes, so a request skips TCP, TLS and the handshake.

Spark's rules shape it (``reference/spark-protocol.md``):

* **one request per connection**: a pooled connection is lent once and closed after its answer,
  like a direct one; the pool opens a replacement in the background at once;
* **idle connections are dropped after 60 s** and **a signed URL is valid for 300 s**: every
  connection is opened with a freshly signed URL (the adapter's ``build_url``) and discarded
  once ``max_idle`` seconds (default 50, below 60) have passed since it was signed;
* **a connection may die while idle** (dropped upstream, network): one found closed when taken
  is discarded and the next is taken; one that fails when the request is sent, before it
  answered anything, is reported ``dead`` by the adapter, which asks for a fresh connection
  (:class:`~.base.WebSocketAdapter`), so the client never sees it;
* **an idle connection is still a connection**: each idle or opening connection holds one slot
  of the model's concurrency limit (``limiter``, ``key``).  A request that takes one releases
  that slot (the request holds its own); a request that finds the limit full makes room by
  closing the oldest idle connection (:meth:`WarmPool.make_room`, called by the limit policy)
  and the pool fills only slots nobody is waiting for (it never waits in the limiter's queue).

The pool never makes a request wait: with no idle connection the request opens its own, as the
direct connector does.  One background task keeps the pool full; it sleeps until the next
expiry or until something changes (a connection taken or returned, a slot released), and after
a failed open it backs off (0.5 s doubling to 30 s).  :meth:`WarmPool.stats` is its state for
metrics; :meth:`WarmPool.aclose` closes every connection it owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Final

from websockets.protocol import State

from ..clock import Clock
from ..errors import LimitStoreUnavailableError
from ..gauges import Reading
from ..limits import Lease, Limiter, LimitExceeded
from .connector import (
    DirectConnection,
    Proxy,
    Refusal,
    Signer,
    Timeouts,
    Upstream,
    close_quietly,
    open_connection,
    release,
)
from .link import Link

logger = logging.getLogger("asgi_spark")

#: How long a signed Spark URL is accepted (seconds); a pooled connection is always older
#: than its signature, so it is discarded well before (``max_idle`` < 60).
SIGNATURE_TTL: Final = 300.0
_BACKOFF_FIRST: Final = 0.5
_BACKOFF_MAX: Final = 30.0


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A pool's state: gauges (``idle``, ``opening``) and counters since it started."""

    size: int
    idle: int
    opening: int
    #: Pooled connections lent to a request.
    used: int
    #: Connections closed without serving a request: expired, found dead, closed to make room
    #: for a request, or closed at shutdown.
    discarded: int
    #: Opening attempts that failed (refused, timed out, unreachable).
    failed: int


@dataclass(slots=True)
class _Idle:
    ws: Link
    lease: Lease
    signed_at: float


class WarmPool:
    """Keeps ``size`` connections open ahead of demand; see the module docstring.

    ``sign``, ``timeouts``, ``proxy`` and ``refusal`` are the adapter's (how to open one);
    ``clock`` is a monotonic clock (tests move it to expire connections).
    """

    def __init__(
        self,
        *,
        sign: Signer,
        timeouts: Timeouts,
        proxy: Proxy,
        refusal: Refusal,
        size: int,
        max_idle: float,
        limiter: Limiter,
        key: str,
        clock: Clock = time.monotonic,
        name: str = "",
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool needs a size of at least 1, not {size}")
        self.size = size
        self.max_idle = min(max_idle, SIGNATURE_TTL)
        self.name = name
        self._sign = sign
        self._timeouts = timeouts
        self._proxy = proxy
        self._refusal = refusal
        self._limiter = limiter
        self._key = key
        self._clock = clock
        self._idle: deque[_Idle] = deque()
        self._opening = 0
        self._used = 0
        self._discarded = 0
        self._failed = 0
        self._backoff = 0.0
        self._retry_at = 0.0
        self._closed = False
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: The slot of each connection being opened, by its task (make_room may take it).
        self._leases: dict[asyncio.Task[None], Lease] = {}

    # ------------------------------------------------------------------------ the seam

    def connect(
        self,
        sign: Signer,
        timeouts: Timeouts,
        *,
        proxy: Proxy,
        refusal: Refusal,
        fresh: bool = False,
    ) -> contextlib.AbstractAsyncContextManager[Upstream]:
        """A warm connection when one is idle (and ``fresh`` is not asked), else a new one."""
        if fresh or self._closed:
            return DirectConnection(sign, timeouts, proxy, refusal)
        return _Lent(self, DirectConnection(sign, timeouts, proxy, refusal))

    async def _take(self) -> Link | None:
        """The oldest idle connection that is still open and young enough, its slot released
        (the request holds its own); ``None`` when there is none."""
        now = self._clock()
        while self._idle:
            item = self._idle.popleft()
            if now - item.signed_at >= self.max_idle or item.ws.state is not State.OPEN:
                self._discard(item)
                continue
            await item.lease.release()
            self._used += 1
            self._changed_now()
            return item.ws
        return None

    def _returned(self, dead: bool) -> None:
        if dead:  # it had been dropped while idle: it served nothing
            self._used -= 1
            self._discarded += 1
        self._changed_now()

    # --------------------------------------------------------------------- the limit

    async def make_room(self) -> Lease | None:
        """Hand one of the pool's slots to a request that finds the limit full: close the
        oldest idle connection, else stop opening one, and give its slot (the lease) to the
        caller, so the pool cannot take it back first.  ``None`` when the pool held none."""
        if self._idle:
            item = self._idle.popleft()
            item.ws.abort()  # never used: no close handshake to wait for
            self._discarded += 1
            self._changed_now()
            return item.lease
        if self._leases:
            opener = next(iter(self._leases))
            lease = self._leases.pop(opener)
            opener.cancel()
            await asyncio.wait([opener])  # its socket is closed
            return lease
        return None

    def released(self) -> None:
        """A slot of the pool's limit may have become free: try to fill."""
        self._wake.set()

    # ------------------------------------------------------------------------ the state

    def stats(self) -> PoolStats:
        return PoolStats(
            size=self.size,
            idle=len(self._idle),
            opening=self._opening,
            used=self._used,
            discarded=self._discarded,
            failed=self._failed,
        )

    def readings(self, model: str) -> Iterator[Reading]:
        """The state as metrics readings (:mod:`asgi_spark.gauges`), labelled with ``model``."""
        stats, labels = self.stats(), {"model": model}
        yield Reading("pool_idle", "warm connections waiting for a request", stats.idle, labels)
        yield Reading("pool_opening", "warm connections being opened", stats.opening, labels)
        yield Reading("pool_used", "pooled connections lent to a request", stats.used, labels)
        yield Reading("pool_discarded", "pooled connections closed unused", stats.discarded, labels)
        yield Reading("pool_failed", "pool connection attempts that failed", stats.failed, labels)

    async def until(self, predicate: Callable[[PoolStats], bool]) -> PoolStats:
        """Wait until ``predicate(stats)`` holds (checked at every change of state)."""
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            await self._changed.wait()

    def wake(self) -> None:
        """Look at the pool now (expiries, filling); for tests that move the clock."""
        self._wake.set()

    def _changed_now(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._wake.set()

    # -------------------------------------------------------------------- the lifecycle

    def start(self) -> None:
        """Start filling (in a background task of the running loop)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop filling and close every connection the pool owns (not those lent out: their
        requests close them).  Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        idle, self._idle = list(self._idle), deque()
        await asyncio.gather(*(self._close(item) for item in idle), return_exceptions=True)
        self._discarded += len(idle)
        self._changed_now()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                delay = await self._maintain()
            except Exception:  # a bug: keep the pool alive, look again later
                logger.exception("pool %s: maintenance failed", self.name)
                delay = _BACKOFF_MAX
            timer = None if delay is None else loop.call_later(delay, self._wake.set)
            await self._wake.wait()
            if timer is not None:
                timer.cancel()

    async def _maintain(self) -> float | None:
        """Discard what expired, start opening what is missing; the seconds until the next
        thing to do (an expiry, the end of a back-off), ``None`` for none."""
        now = self._clock()
        for item in [i for i in self._idle if self._expired(i, now)]:
            self._idle.remove(item)
            self._discard(item)
        waits: list[float] = []
        if now < self._retry_at:
            waits.append(self._retry_at - now)
        else:
            while len(self._idle) + self._opening < self.size:
                try:
                    lease = await self._limiter.acquire(self._key, 1, timeout=0)
                except (LimitExceeded, LimitStoreUnavailableError):
                    break  # requests hold the slots (or none can be had now): a release wakes it
                self._opening += 1
                self._leases[self._spawn(self._open())] = lease
        if self._idle:
            waits.append(max(0.0, self._idle[0].signed_at + self.max_idle - now))
        return min(waits) if waits else None

    def _expired(self, item: _Idle, now: float) -> bool:
        return now - item.signed_at >= self.max_idle or item.ws.state is not State.OPEN

    async def _open(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            signed_at = self._clock()
            ws = await open_connection(self._sign(), self._timeouts, self._proxy, self._refusal)
        except asyncio.CancelledError:
            await self._release(task)
            raise
        except Exception as exc:  # refused, timed out, unreachable: try again later
            await self._release(task)
            self._failed += 1
            self._backoff = min(_BACKOFF_MAX, self._backoff * 2 or _BACKOFF_FIRST)
            self._retry_at = self._clock() + self._backoff
            logger.warning(
                "pool %s: opening a connection failed (%s); next try in %g s",
                self.name,
                type(exc).__name__,
                self._backoff,
            )
        else:
            self._backoff = 0.0
            lease = self._leases.pop(task, None)
            if lease is None:  # its slot was given to a request meanwhile
                ws.abort()
                self._discarded += 1
            else:
                self._idle.append(_Idle(ws, lease, signed_at))
        finally:
            self._opening -= 1
            self._changed_now()

    async def _release(self, task: asyncio.Task[None]) -> None:
        lease = self._leases.pop(task, None)
        if lease is not None:
            await lease.release()

    def _discard(self, item: _Idle) -> None:
        self._discarded += 1
        self._spawn(self._close(item))
        self._changed_now()

    async def _close(self, item: _Idle) -> None:
        try:
            await close_quietly(item.ws, self._timeouts.close)
        finally:
            await item.lease.release()
            self._wake.set()

    def _spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class _Lent:
    """One request's connection: a warm one from the pool, else a new one (``fallback``)."""

    __slots__ = ("_fallback", "_pool", "_upstream")

    def __init__(self, pool: WarmPool, fallback: DirectConnection) -> None:
        self._pool = pool
        self._fallback: DirectConnection | None = fallback
        self._upstream: Upstream | None = None

    async def __aenter__(self) -> Upstream:
        ws = await self._pool._take()
        if ws is None:
            assert self._fallback is not None
            return await self._fallback.__aenter__()
        self._fallback = None
        self._upstream = Upstream(ws, pooled=True, connect_time=0.0)
        return self._upstream

    async def __aexit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._fallback is not None:
            await self._fallback.__aexit__(kind, *exc)
            return
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            try:
                await release(upstream.ws, self._pool._timeouts.close, kind)
            finally:
                self._pool._returned(upstream.dead)


__all__ = ["SIGNATURE_TTL", "PoolStats", "WarmPool"]
