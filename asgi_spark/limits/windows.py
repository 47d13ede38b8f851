"""The two rolling windows of the in-memory limiter, as plain data (no I/O, no clock of their
own: every method is given ``now``).  :mod:`.scripts` computes the same in Redis.

* :class:`SlidingLog`: the times of the events of the last ``window`` seconds; room for ``n``
  more when fewer than ``limit - n + 1`` are in it (exact: at most ``limit`` in *any* window).
* :class:`Budget`: amounts per whole second; what was spent in second ``s`` counts while
  ``s > now - window`` (so for ``window`` seconds, to the second).
"""

from __future__ import annotations

import math
from collections import deque


class SlidingLog:
    """Event times of the last ``window`` seconds, oldest first."""

    __slots__ = ("_times", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def take(self, now: float, limit: int, n: int) -> float | None:
        """Record ``n`` events at ``now`` if at most ``limit`` are then in the window, and
        return ``None``; else record nothing and return the seconds until there is room."""
        times = self._times
        horizon = now - self.window
        while times and times[0] <= horizon:
            times.popleft()
        excess = len(times) + n - limit
        if excess <= 0:
            times.extend([now] * n)
            return None
        return times[excess - 1] + self.window - now

    def __len__(self) -> int:
        return len(self._times)


class Budget:
    """Amounts spent per whole second of the last ``window`` seconds."""

    __slots__ = ("_seconds", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._seconds: dict[int, int] = {}

    def spend(self, now: float, amount: int) -> None:
        second = math.floor(now)
        self._seconds[second] = self._seconds.get(second, 0) + amount
        self._prune(now)

    def wait(self, now: float, limit: int) -> float | None:
        """``None`` while less than ``limit`` was spent in the window; else the seconds until
        enough of it has left the window."""
        self._prune(now)
        total = sum(self._seconds.values())
        if total < limit:
            return None
        for second in sorted(self._seconds):
            total -= self._seconds[second]
            if total < limit:
                return second + self.window - now
        raise AssertionError("unreachable: the total falls below any positive limit")

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        for second in [s for s in self._seconds if s <= horizon]:
            del self._seconds[second]
