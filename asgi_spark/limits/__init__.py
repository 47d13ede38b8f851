"""Limits behind one interface, kept in this process (:mod:`.memory`) or in Redis, shared by
every worker and replica (:mod:`.redis_backend`).

A :class:`Limiter` keeps three kinds of limit:

* **slots** (``max_concurrency``): :meth:`Limiter.acquire` takes ``n`` slots of a key (a model
  id, or a ``limit_group`` that several models share) **at once or not at all** (so a request
  that needs several, like ``n > 1`` choices, can never hold a part and deadlock with another),
  waiting at most ``timeout`` seconds; past it, :class:`LimitExceeded` (a 429 with
  ``Retry-After``).  The returned :class:`Lease` gives the slots back with
  :meth:`Lease.release` (idempotent).  Keys without a capacity are unlimited.
* **rates** (``max_qps``, ``requests_per_minute``): :meth:`Limiter.hit` counts events in a
  rolling window (a sliding log: at most ``limit`` in *any* ``window`` seconds, exactly).
* **budgets** (``tokens_per_minute``): :meth:`Limiter.spend` records amounts (the tokens of
  an answer, known only once it is over) and :meth:`Limiter.check` refuses while the amounts of
  the last ``window`` seconds, counted to the second, reach the limit.

When the store behind a shared limiter cannot be reached, its ``on_unavailable`` policy
decides: admit (``fail_open``, with a warning) or refuse (``fail_closed``:
:class:`~asgi_spark.errors.LimitStoreUnavailableError`, a 503).  :meth:`Limiter.status` says
which state it is in, for ``/readyz``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..errors import RateLimitError
from ..gauges import Reading


class LimitExceeded(RateLimitError):
    """No slot became free, or the window had no room, within the wait allowed."""

    def __init__(
        self, message: str, *, retry_after: float | None = 1.0, retryable: bool | None = None
    ) -> None:
        wait = None if retry_after is None else max(retry_after, 0.0)
        super().__init__(message, retry_after=wait, retryable=retryable)


class Lease(Protocol):
    """Slots held; :meth:`release` gives them back (idempotent)."""

    async def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """Where a limiter keeps its limits and whether it can reach them now."""

    backend: str
    available: bool = True
    #: What requests get while the store is unavailable: ``fail_open`` or ``fail_closed``.
    on_unavailable: str | None = None

    @property
    def refusing(self) -> bool:
        """Requests are refused because the store cannot be reached (``fail_closed``)."""
        return not self.available and self.on_unavailable == "fail_closed"


class Limiter(Protocol):
    """Slots, rates and budgets per key; see the module docstring."""

    async def acquire(self, key: str, n: int = 1, *, timeout: float | None = None) -> Lease:
        """Take ``n`` slots of ``key`` at once, waiting at most ``timeout`` seconds (``None``:
        no bound, ``0``: refuse at once); :class:`LimitExceeded` when they do not come."""
        ...

    async def hit(
        self, key: str, limit: int, window: float, *, n: int = 1, timeout: float | None = 0.0
    ) -> None:
        """Count ``n`` events of ``key``, at most ``limit`` in any ``window`` seconds, waiting
        at most ``timeout`` seconds for room; :class:`LimitExceeded` (with the seconds until
        there is room as ``retry_after``) when there is none in time."""
        ...

    async def check(self, key: str, limit: int, window: float) -> None:
        """:class:`LimitExceeded` when the amounts spent on ``key`` in the last ``window``
        seconds reach ``limit``."""
        ...

    async def spend(self, key: str, amount: int, window: float) -> None:
        """Record ``amount`` spent on ``key`` now, counted for ``window`` seconds."""
        ...

    def in_use(self, key: str) -> int:
        """Slots of ``key`` this process holds now (for metrics and tests)."""
        ...

    async def status(self) -> LimitStatus:
        """The backend and whether it is reachable now (checked, not remembered)."""
        ...

    def readings(self) -> Iterator[Reading]:
        """The limiter's own gauges (the store's state), for the metrics."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter owns (connections of a shared backend)."""
        ...


def too_many(limit: int, n: int, what: str) -> LimitExceeded:
    """The refusal of a request that needs more than a limit can ever give (``what``: what
    it needs ``n`` of, as in "concurrent upstream sessions of 'm'")."""
    return LimitExceeded(
        f"the request needs {n} {what}, which allows {limit}", retryable=False, retry_after=None
    )


__all__ = ["Lease", "LimitExceeded", "LimitStatus", "Limiter", "too_many"]
