"""Concurrency limits behind one interface: in memory now, shared (Redis) later.

A :class:`Limiter` hands out slots per key (a model id, or a ``limit_group`` that several
models share).  :meth:`Limiter.acquire` takes ``n`` slots **at once or not at all** (so a
request that needs several, like ``n > 1`` choices, can never hold a part and deadlock with
another), waiting at most ``timeout`` seconds; past it, :class:`LimitExceeded` (a 429 with
``Retry-After``).  The returned :class:`Lease` gives the slots back with
:meth:`Lease.release` (idempotent).  Keys without a capacity are unlimited.
"""

from __future__ import annotations

from typing import Protocol

from ..errors import RateLimitError


class LimitExceeded(RateLimitError):
    """No slot became free within the wait allowed."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class Lease(Protocol):
    """Slots held; :meth:`release` gives them back (idempotent)."""

    async def release(self) -> None: ...


class Limiter(Protocol):
    """Slots per key; see the module docstring."""

    async def acquire(self, key: str, n: int = 1, *, timeout: float | None = None) -> Lease:
        """Take ``n`` slots of ``key`` at once, waiting at most ``timeout`` seconds (``None``:
        no bound, ``0``: refuse at once); :class:`LimitExceeded` when they do not come."""
        ...

    def in_use(self, key: str) -> int:
        """Slots of ``key`` held now (for metrics and tests)."""
        ...

    async def aclose(self) -> None:
        """Release what the limiter owns (connections of a shared backend)."""
        ...


__all__ = ["Lease", "LimitExceeded", "Limiter"]
