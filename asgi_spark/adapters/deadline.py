"""One deadline per exchange, moved forward per frame: receiving without a task per frame.

``asyncio.wait_for`` around every ``recv()`` costs a task and a timer per upstream frame (about
8 % of the gateway's CPU on a streamed answer, ``benchmarks/README.md``).  An
:class:`ExchangeDeadline` instead keeps **one** timer for the whole exchange:

* :meth:`~ExchangeDeadline.receive` notes when the current wait must end (``first_frame`` for
  the first frame, ``idle`` for the next ones, never after the ``total`` deadline) and awaits
  ``recv()`` directly, in the caller's task;
* the timer is armed once and, when it fires early (because the wait it was armed for has since
  been moved forward by frames that came in time), re-arms itself for the current end: a frame
  costs a clock reading and two attribute stores, not a timer;
* when a wait really runs out, the timer cancels the waiting task and :meth:`receive` turns that
  cancellation into the phase's :class:`~asgi_spark.errors.UpstreamTimeoutError`.  A
  cancellation that did not come from the timer (the client went away) propagates unchanged.

Only the time spent inside :meth:`receive` counts, exactly like a ``wait_for`` per frame: while
the caller is busy with a frame (or its client is slow to read), the timer does not fire into
that work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..errors import (
    FirstFrameTimeoutError,
    IdleTimeoutError,
    TotalTimeoutError,
    UpstreamTimeoutError,
)

#: What :meth:`ExchangeDeadline.receive` awaits: a connection's ``recv`` (cancellation-safe).
Receive = Callable[[], Awaitable["str | bytes"]]


class ExchangeDeadline:
    """The first-frame, idle and total limits of one exchange (seconds; ``None``: none).

    Create it when the exchange starts (the total limit counts from then); call
    :meth:`receive` for each frame and :meth:`cancel` when the exchange ends.
    """

    __slots__ = (
        "_end",
        "_expired",
        "_first",
        "_first_frame",
        "_handle",
        "_idle",
        "_loop",
        "_task",
        "_total_at",
        "_waiting",
    )

    def __init__(
        self, *, first_frame: float | None, idle: float | None, total: float | None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._first_frame = first_frame
        self._idle = idle
        self._total_at = None if total is None else self._loop.time() + total
        self._first = True
        self._end: float | None = None  # when the current wait must end (loop time)
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._waiting = False
        self._expired: UpstreamTimeoutError | None = None

    async def receive(self, recv: Receive) -> str | bytes:
        """The next frame, or the timeout error of the phase whose limit passed."""
        limit = self._first_frame if self._first else self._idle
        now = self._loop.time()
        end = None if limit is None else now + limit
        total_at = self._total_at
        if total_at is not None and (end is None or total_at <= end):
            end = total_at
        if end is not None and end <= now:
            raise self._error(end == total_at)
        self._end = end
        if self._task is None:  # every receive() of an exchange runs in its task
            self._task = asyncio.current_task()
        if end is not None:
            handle = self._handle
            if handle is None or handle.when() > end:  # none armed, or armed too late
                if handle is not None:
                    handle.cancel()
                self._handle = self._loop.call_at(end, self._fire)
        self._waiting = True
        try:
            data = await recv()
        except asyncio.CancelledError:
            expired, self._expired = self._expired, None
            if expired is None or not _uncancel(self._task):
                raise
            raise expired from None
        finally:
            self._waiting = False
        self._first = False
        return data

    def cancel(self) -> None:
        """The exchange is over: disarm the timer.  Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _fire(self) -> None:
        self._handle = None
        end = self._end
        if not self._waiting or end is None:
            return  # re-armed by the next receive()
        if self._loop.time() < end:
            self._handle = self._loop.call_at(end, self._fire)  # moved forward meanwhile
            return
        task = self._task
        if task is not None and not task.done():
            self._expired = self._error(end == self._total_at)
            task.cancel()

    def _error(self, total: bool) -> UpstreamTimeoutError:
        if total:
            return TotalTimeoutError(
                "the upstream answer took longer than the total time limit (total timeout)"
            )
        if self._first:
            return FirstFrameTimeoutError(
                f"upstream sent nothing for {self._first_frame:g} s after the request "
                "(first_frame timeout)"
            )
        return IdleTimeoutError(f"upstream sent nothing for {self._idle:g} s (idle timeout)")


def _uncancel(task: asyncio.Task[object] | None) -> bool:
    """Take back the timer's cancellation; ``False`` if someone else cancelled the task too
    (then the cancellation must go on).  Python 3.10 cannot tell them apart."""
    if task is None:
        return False
    uncancel = getattr(task, "uncancel", None)
    if uncancel is None:  # Python 3.10
        return True
    remaining: int = uncancel()
    return remaining == 0


__all__ = ["ExchangeDeadline", "Receive"]
