"""Draining: how a gateway stops without cutting the answers it is giving, when it can.

A drain moves through phases, each entered once::

    SERVING ──drain()──► DRAINING ──delay──► STOPPING ──timeout or idle──► ENDING ──► ENDED

* DRAINING: ``/readyz`` answers 503 with the reason (:meth:`Drain.not_ready`), every request is
  still served: a load balancer has ``delay`` seconds to take the instance out of rotation.
* STOPPING: the server stops listening (the ``stop_listening`` callback: ``asgi-spark serve``
  asks uvicorn to shut down, which closes the listening socket and the idle connections); the
  gateway refuses new requests with a 503 ``gateway_draining`` (a mounted gateway has no
  socket of its own to close); requests in flight have ``timeout`` seconds to finish.
* ENDING: each request still running is ended: its source yields a
  :class:`~asgi_spark.events.Failed` event with :class:`~asgi_spark.errors.GatewayDrainingError`
  and stops, so the writer ends a stream with the OpenAI error event (and no ``[DONE]``) or
  answers a request not yet committed with a clean 503; the upstream connection is closed on
  the way (the task awaiting it is cancelled, which closes the socket its owner holds).
* ENDED: nothing is in flight; whatever comes now is refused or ended at once.

:meth:`Drain.policy` is the outermost policy of every model's call (the runtime composes it),
so every endpoint (chat, Responses, Completions) is drained the same way.  It costs a request
one more async generator layer and nothing per batch beyond it.

A request whose writer is blocked sending to a client that does not read is ended at its next
batch; the server's own graceful-shutdown deadline bounds that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Final

from .errors import GatewayDrainingError
from .events import Failed
from .pipeline import Call, CallNext, Source
from .readiness import NotReady

logger = logging.getLogger("asgi_spark")

#: How long ended requests get to send their error event and close (seconds).
ENDING_GRACE: Final = 5.0


class DrainPhase(Enum):
    SERVING = "serving"
    DRAINING = "draining"  # not ready; requests still served (the delay)
    STOPPING = "stopping"  # new requests refused; those in flight may finish (the timeout)
    ENDING = "ending"  # those still in flight are being ended
    ENDED = "ended"


class _Active:
    """One request's source while it runs: its task, and whether it is awaiting upstream."""

    __slots__ = ("cancelled", "ended", "task", "waiting")

    def __init__(self, task: asyncio.Task[object] | None, ended: bool) -> None:
        self.task = task
        self.waiting = False
        self.ended = ended
        self.cancelled = False

    def end(self) -> None:
        """End at once if awaiting upstream (cancel the wait), else at the next batch."""
        self.ended = True
        if self.waiting and self.task is not None and not self.task.done():
            self.cancelled = True
            self.task.cancel()


class Drain:
    """A gateway's drain: its phase, the requests in flight, and the reason it gives."""

    def __init__(self) -> None:
        self.phase = DrainPhase.SERVING
        self.reason = ""
        self.timeout = 0.0
        self._active: set[_Active] = set()
        self._left = asyncio.Event()  # a request ended
        self._hurry = asyncio.Event()
        self._done = asyncio.Event()

    # -------------------------------------------------------------------------- state

    @property
    def refusing(self) -> bool:
        """Whether new requests are refused (past the delay)."""
        return self.phase not in (DrainPhase.SERVING, DrainPhase.DRAINING)

    @property
    def in_flight(self) -> int:
        """Requests whose model call is running."""
        return len(self._active)

    def not_ready(self) -> list[NotReady]:
        if self.phase is DrainPhase.SERVING:
            return []
        return [NotReady("draining", f"the gateway is shutting down ({self.reason})")]

    def ended(self) -> GatewayDrainingError:
        """What a request still running at the end of the timeout is told."""
        return GatewayDrainingError(
            "the gateway is shutting down: the answer was ended at the end of the drain "
            f"timeout ({self.timeout:g} s); send the request again to another instance"
        )

    def refusal(self) -> GatewayDrainingError:
        """What a request that comes after the delay is told."""
        return GatewayDrainingError(
            "the gateway is shutting down and takes no new requests; send the request to "
            "another instance"
        )

    # -------------------------------------------------------------------------- policy

    def policy(self, call: Call, call_next: CallNext) -> Source:
        """The outermost policy: the call's source, registered so the drain can end it."""
        return self._guarded(call_next(call))

    async def _guarded(self, source: Source) -> Source:
        ending = self.phase in (DrainPhase.ENDING, DrainPhase.ENDED)
        entry = _Active(asyncio.current_task(), ended=ending)
        self._active.add(entry)
        try:
            while not entry.ended:
                entry.waiting = True
                try:
                    batch = await source.__anext__()
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not entry.cancelled:
                        raise  # the client went away, or the server is cancelling
                    break
                finally:
                    entry.waiting = False
                yield batch
            if entry.cancelled and entry.task is not None:
                uncancel = getattr(entry.task, "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()
            await source.aclose()  # the upstream connection, before the client hears of it
            yield [Failed(self.refusal() if ending else self.ended())]
        finally:
            self._active.discard(entry)
            self._left.set()
            await source.aclose()

    # --------------------------------------------------------------------------- drain

    async def run(
        self,
        *,
        delay: float,
        timeout: float,
        reason: str,
        stop_listening: Callable[[float], object] | None = None,
    ) -> None:
        """Drain (see the module's docstring); returns once nothing is in flight.  A second
        call waits for the first drain to end.  ``stop_listening(timeout)`` is called when the
        delay is over."""
        if self.phase is not DrainPhase.SERVING:
            await self._done.wait()
            return
        self.phase, self.reason, self.timeout = DrainPhase.DRAINING, reason, timeout
        logger.warning(
            "draining (%s): /readyz answers 503; new requests are still served for %g s",
            reason,
            delay,
        )
        await self._until(self._hurry.wait(), delay)
        self.phase = DrainPhase.STOPPING
        if stop_listening is not None:
            stop_listening(timeout)
        logger.info(
            "draining: no new requests; waiting up to %g s for %d request(s) in flight",
            timeout,
            len(self._active),
        )
        await self._until_idle(timeout)
        self.phase = DrainPhase.ENDING
        if self._active:
            logger.warning(
                "draining: ending %d request(s) still in flight after the drain timeout (%g s)",
                len(self._active),
                timeout,
            )
            for entry in list(self._active):
                entry.end()
            self._hurry.clear()
            await self._until_idle(ENDING_GRACE)
        self.phase = DrainPhase.ENDED
        logger.info("drained: no request in flight")
        self._done.set()

    def hurry(self) -> None:
        """Skip what is left of the delay and the timeout: end the requests in flight now."""
        self._hurry.set()

    async def _until_idle(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._active and not self._hurry.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._left.clear()
            await self._until(_either(self._left.wait(), self._hurry.wait()), remaining)

    @staticmethod
    async def _until(waiting: Awaitable[object], timeout: float) -> None:
        """Wait for ``waiting`` at most ``timeout`` seconds."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(waiting, timeout)


async def _either(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["ENDING_GRACE", "Drain", "DrainPhase"]
