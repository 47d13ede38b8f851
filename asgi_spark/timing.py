"""The ``Server-Timing`` header (W3C Server Timing): where one request's time went.

Every response carries it, so a user sees the gateway's overhead per request in the browser's
or the SDK's response headers, without a profiler.  Metrics, durations in milliseconds:

* ``gateway``: the gateway's own time: the time so far less the time spent waiting for a
  concurrency slot, connecting upstream and waiting for the upstream;
* ``queue``: waiting for a concurrency slot (only when there was a wait);
* ``connect``: opening the upstream connection (``0`` when it came warm from the pool);
* ``upstream``: a complete answer: from sending the request to the last frame; a stream:
  from sending the request to the first frame (``desc="first frame"``).

A streamed answer sends its headers with the status at the commit point, so its header holds
what is known then: ``gateway`` and ``upstream`` up to the first frame.  For example
``gateway;dur=0.21, connect;dur=0, upstream;dur=0.87;desc="first frame"``.
"""

from __future__ import annotations

import time
from typing import Final

from starlette.types import Message, Send

from .pipeline import RequestContext

HEADER: Final = b"server-timing"


def server_timing(context: RequestContext, now: float, *, last_frame: float | None = None) -> bytes:
    """The header's value for ``context`` at ``now`` (``time.monotonic()``).

    ``last_frame``: when the last upstream frame came (a complete answer); without it the
    upstream's time is counted to its first frame (a stream at the commit point)."""
    elapsed = now - context.started
    queue = context.limit_wait
    connect = context.upstream_connect
    sent = context.upstream_sent
    upstream: float | None = None
    if sent is not None:
        end = last_frame if last_frame is not None else context.upstream_first
        if end is not None:
            upstream = max(0.0, end - sent)
    own = elapsed - queue - (connect or 0.0) - (upstream or 0.0)
    parts = [f"gateway;dur={max(0.0, own) * 1000:.3f}"]
    if queue > 0:
        parts.append(f"queue;dur={queue * 1000:.3f}")
    if connect is not None:
        parts.append(f"connect;dur={connect * 1000:.3f}" if connect else "connect;dur=0")
    if upstream is not None:
        desc = "" if last_frame is not None else ';desc="first frame"'
        parts.append(f"upstream;dur={upstream * 1000:.3f}{desc}")
    return ", ".join(parts).encode()


def gateway_only(began: float, now: float) -> tuple[bytes, bytes]:
    """The header of a response that involved no upstream (errors before routing, listings)."""
    return HEADER, f"gateway;dur={max(0.0, now - began) * 1000:.3f}".encode()


def timed_send(send: Send, began: float) -> Send:
    """``send`` that adds the gateway's time to the response's headers."""

    async def timed(message: Message) -> None:
        if message["type"] == "http.response.start":
            timing = gateway_only(began, time.monotonic())
            message = {**message, "headers": [*message.get("headers", ()), timing]}
        await send(message)

    return timed


__all__ = ["HEADER", "gateway_only", "server_timing", "timed_send"]
