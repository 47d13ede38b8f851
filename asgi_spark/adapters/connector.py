"""Opening upstream WebSocket connections: the :class:`Connector` seam and its timeouts.

:class:`Timeouts` has one slot per phase (seconds; ``None`` disables it):

* ``connect``: TCP connect, TLS and the WebSocket handshake;
* ``acquire``: waiting for a pooled connection (used by a pooling connector);
* ``first_frame``: from sending the request to the first upstream frame;
* ``idle``: between two upstream frames;
* ``total``: the whole exchange, from connecting to the last frame;
* ``close``: waiting for the peer's close frame before the socket is aborted.

Each deadline that passes raises its own subclass of
:class:`~asgi_spark.errors.UpstreamTimeoutError` naming the phase and the limit.

A :class:`Connector` opens a connection as an async context manager that closes it on every
path.  :class:`DirectConnector` opens a new one per request; a warm pool can take its place
without the adapter changing.

A message larger than :data:`MAX_FRAME_BYTES` is not read: the connection is failed with close
code 1009 and ends at once (:class:`_FailFastConnection`; the peer is not waited for, since one
that keeps streaming would never answer), and :func:`oversize_error` names the size and the
limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, PayloadTooBig
from websockets.frames import CloseCode

from ..errors import (
    ConnectTimeoutError,
    FirstFrameTimeoutError,
    GatewayError,
    IdleTimeoutError,
    TotalTimeoutError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
)
from .wire_log import UPSTREAM_LOG

if TYPE_CHECKING:
    from ..config.schema import ModelEntry

#: Largest upstream frame accepted (bytes).  Spark frames are a few KB; this bounds memory.
MAX_FRAME_BYTES = 4 * 1024 * 1024

#: ``"auto"``/``True``: the standard proxy environment variables; a URL: that proxy; ``None``:
#: never a proxy.
Proxy = Literal["auto"] | str | None

#: Maps a refused handshake (HTTP status, body) to the error the client sees.
Refusal = Callable[[int, bytes], GatewayError]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per phase (see the module docstring); ``None`` disables a limit."""

    connect: float | None = 10.0
    acquire: float | None = 10.0
    first_frame: float | None = 60.0
    idle: float | None = 60.0
    total: float | None = 600.0
    close: float | None = 2.0

    @classmethod
    def for_entry(cls, entry: ModelEntry) -> Timeouts:
        """The entry's ``timeouts`` slots; those not set come from its scalar ``timeout`` t
        (connect ``min(10, t)``, acquire, first frame and idle ``t``, total ``max(10 t, 600)``,
        close 2 s: :meth:`~asgi_spark.config.ModelEntry.effective_timeouts`)."""
        slots = entry.effective_timeouts()
        return cls(
            connect=slots.connect,
            acquire=slots.acquire,
            first_frame=slots.first_frame,
            idle=slots.idle,
            total=slots.total,
            close=slots.close,
        )


class Connector(Protocol):
    """Opens one upstream connection for one request, closed when the context exits."""

    def connect(
        self, url: str, timeouts: Timeouts, *, proxy: Proxy, refusal: Refusal
    ) -> AbstractAsyncContextManager[ClientConnection]: ...


class DirectConnector:
    """A new connection per request."""

    def connect(
        self, url: str, timeouts: Timeouts, *, proxy: Proxy, refusal: Refusal
    ) -> AbstractAsyncContextManager[ClientConnection]:
        return _Connection(url, timeouts, proxy, refusal)


class _Connection:
    """Owns one upstream WebSocket: opened with a timeout, always closed."""

    def __init__(self, url: str, timeouts: Timeouts, proxy: Proxy, refusal: Refusal) -> None:
        self._url = url
        self._timeouts = timeouts
        self._proxy: str | Literal[True] | None = True if proxy == "auto" else proxy
        self._refusal = refusal
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> ClientConnection:
        limit = self._timeouts.connect
        try:
            self._ws = await connect(
                self._url,
                open_timeout=limit,
                max_size=MAX_FRAME_BYTES,  # bounds memory; Spark frames are a few KB
                ping_interval=None,  # Spark sends no pings and the official clients send none
                compression=None,  # no permessage-deflate offer, like the official clients
                proxy=self._proxy,
                logger=UPSTREAM_LOG,  # not websockets.client: redacted, whatever the host logs
                create_connection=_FailFastConnection,
                close_timeout=self._timeouts.close,
            )
        except InvalidStatus as exc:
            response = exc.response
            raise self._refusal(response.status_code, bytes(response.body or b"")) from None
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before 3.11
            raise ConnectTimeoutError(
                f"connecting to upstream took longer than the connect timeout ({limit:g} s)"
            ) from None
        return self._ws

    async def __aexit__(self, *exc: object) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await close_quietly(ws, self._timeouts.close)


class _FailFastConnection(ClientConnection):
    """A client connection that ends as soon as it cannot read upstream any more.

    When a frame is over ``max_size`` (or breaks the protocol), ``websockets`` sends its close
    frame (1009, 1002, ...) and then waits up to ``close_timeout`` for the peer's, while
    ``recv()`` sees nothing: a peer still streaming its oversize answer looks silent until a
    deadline passes.  Here the transport is closed right after the close frame is written, so
    ``recv()`` raises :class:`ConnectionClosed` (chained to the parser's error) at once.
    """

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.parser_exc is not None and not self.transport.is_closing():
            self.transport.close()  # flushes the close frame, then closes


def oversize_error(closed: ConnectionClosed, ws: ClientConnection) -> UpstreamProtocolError | None:
    """The error for a connection the gateway failed with 1009 because upstream sent a message
    over :data:`MAX_FRAME_BYTES`; ``None`` for any other ending.  The size comes from the
    parser's error (``ws.protocol.parser_exc``: not every release chains it to ``closed``)."""
    cause = ws.protocol.parser_exc
    if isinstance(cause, PayloadTooBig):
        size: int | None = getattr(cause, "size", None)
        if size is not None:  # plus the earlier fragments ("cur_size" in older releases)
            size += getattr(cause, "current_size", getattr(cause, "cur_size", None)) or 0
    elif (
        closed.sent is not None
        and closed.sent.code == CloseCode.MESSAGE_TOO_BIG
        and closed.rcvd_then_sent is not True  # upstream's own 1009 is its refusal of ours
    ):
        size = None
    else:
        return None
    what = f"a message of {size} bytes" if size is not None else "a message"
    return UpstreamProtocolError(
        f"upstream sent {what}, over the gateway's limit of {MAX_FRAME_BYTES} bytes "
        f"({MAX_FRAME_BYTES / 2**20:g} MiB, MAX_FRAME_BYTES); the connection was closed with "
        "1009 (message too big)"
    )


async def close_quietly(ws: ClientConnection, limit: float | None) -> None:
    """Close, waiting at most ``limit`` seconds for the peer; abort the transport if it will
    not answer."""
    try:
        await asyncio.wait_for(ws.close(), timeout=limit)
    except (asyncio.TimeoutError, OSError, ConnectionClosed):
        pass
    finally:
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()


async def receive(
    ws: ClientConnection, wait: float | None, deadline: float | None, *, first: bool
) -> str | bytes:
    """The next frame, within ``wait`` seconds (the first-frame or idle limit) and before the
    exchange's ``deadline`` (``time.monotonic`` value), else the phase's timeout error."""
    limit = wait
    total_hit = False
    if deadline is not None:
        remaining = max(0.0, deadline - time.monotonic())
        if limit is None or remaining < limit:
            limit, total_hit = remaining, True
    try:
        return await asyncio.wait_for(ws.recv(), timeout=limit)
    except asyncio.TimeoutError:
        raise _phase_error(total_hit, first, limit) from None


def _phase_error(total_hit: bool, first: bool, limit: float | None) -> UpstreamTimeoutError:
    if total_hit:
        return TotalTimeoutError(
            "the upstream answer took longer than the total time limit (total timeout)"
        )
    if first:
        return FirstFrameTimeoutError(
            f"upstream sent nothing for {limit:g} s after the request (first_frame timeout)"
        )
    return IdleTimeoutError(f"upstream sent nothing for {limit:g} s (idle timeout)")


__all__ = [
    "MAX_FRAME_BYTES",
    "Connector",
    "DirectConnector",
    "Proxy",
    "Refusal",
    "Timeouts",
    "close_quietly",
    "oversize_error",
    "receive",
]
