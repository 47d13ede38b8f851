"""Opening upstream WebSocket connections: the :class:`Connector` seam and its timeouts.

:class:`Timeouts` has one slot per phase (seconds; ``None`` disables it):

* ``connect``: TCP connect, TLS and the WebSocket handshake;
* ``acquire``: waiting for a pooled connection (used by a pooling connector);
* ``first_frame``: from sending the request to the first upstream frame;
* ``idle``: between two upstream frames;
* ``total``: the whole exchange, from connecting to the last frame;
* ``close``: waiting for the peer's close frame before the socket is aborted.

Each deadline that passes raises its own subclass of
:class:`~asgi_spark.errors.UpstreamTimeoutError` naming the phase and the limit (the receiving
deadlines are :class:`~.deadline.ExchangeDeadline`'s).

A :class:`Connector` gives a connection as an async context manager that closes it on every
path; what it yields is an :class:`Upstream`: the WebSocket, whether it came warm from a pool,
and how long opening it took.  It is given the adapter's *signer* (``build_url``), not a URL,
so a connection that is already open costs no signature.  :class:`DirectConnector` opens a new
connection per request; the warm pool (:mod:`.pool`) takes its place without the adapter
changing.

Each connection is a :class:`~.link.Link`: ``websockets``' Sans-I/O protocol under a lean
asyncio driver made for one request per connection (:mod:`.link` says why).

A message larger than :data:`MAX_FRAME_BYTES` is not read: the connection is failed with close
code 1009 and ends at once (the link closes its socket right after the close frame; the peer is
not waited for, since one that keeps streaming would never answer), and :func:`oversize_error`
names the size and the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from websockets.exceptions import ConnectionClosed, InvalidStatus, PayloadTooBig
from websockets.frames import CloseCode

from ..errors import ConnectTimeoutError, GatewayError, UpstreamProtocolError
from .dial import open_link
from .link import Link

if TYPE_CHECKING:
    from ..config.schema import ModelEntry

#: Largest upstream frame accepted (bytes).  Spark frames are a few KB; this bounds memory.
MAX_FRAME_BYTES = 4 * 1024 * 1024

#: ``"auto"``/``True``: the standard proxy environment variables; a URL: that proxy; ``None``:
#: never a proxy.
Proxy = Literal["auto"] | str | None

#: Maps a refused handshake (HTTP status, body) to the error the client sees.
Refusal = Callable[[int, bytes], GatewayError]
#: Gives a freshly signed URL (the adapter's ``build_url``).  The URL carries credentials.
Signer = Callable[[], str]


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


@dataclass(slots=True)
class Upstream:
    """One upstream connection lent to one request."""

    ws: Link
    #: It came warm from a pool (opened before the request, never used).
    pooled: bool = False
    #: Seconds spent opening it on the request's path (0 when pooled).
    connect_time: float = 0.0
    #: Set by the user when the connection turned out dead before answering anything (a
    #: pooled connection the upstream had dropped): the pool counts it as discarded.
    dead: bool = False


class Connector(Protocol):
    """Gives one upstream connection for one request, closed when the context exits.

    ``sign`` is called only when a new connection must be opened.  ``fresh=True`` asks for a
    newly opened connection (after a pooled one turned out dead)."""

    def connect(
        self,
        sign: Signer,
        timeouts: Timeouts,
        *,
        proxy: Proxy,
        refusal: Refusal,
        fresh: bool = False,
    ) -> AbstractAsyncContextManager[Upstream]: ...


class DirectConnector:
    """A new connection per request."""

    def connect(
        self,
        sign: Signer,
        timeouts: Timeouts,
        *,
        proxy: Proxy,
        refusal: Refusal,
        fresh: bool = False,
    ) -> AbstractAsyncContextManager[Upstream]:
        return DirectConnection(sign, timeouts, proxy, refusal)


async def open_connection(url: str, timeouts: Timeouts, proxy: Proxy, refusal: Refusal) -> Link:
    """Open a WebSocket to ``url`` within ``timeouts.connect``; a refused handshake becomes
    ``refusal(status, body)``, a slow one :class:`~asgi_spark.errors.ConnectTimeoutError`.
    The caller owns the connection it gets.  No permessage-deflate offer and no pings, like
    the official clients; messages over :data:`MAX_FRAME_BYTES` are refused (1009)."""
    limit = timeouts.connect
    try:
        return await open_link(url, max_size=MAX_FRAME_BYTES, proxy=proxy, limit=limit)
    except InvalidStatus as exc:
        response = exc.response
        raise refusal(response.status_code, bytes(response.body or b"")) from None
    except (TimeoutError, asyncio.TimeoutError):  # distinct classes before 3.11
        raise ConnectTimeoutError(
            f"connecting to upstream took longer than the connect timeout ({limit:g} s)"
        ) from None


def oversize_error(closed: ConnectionClosed, ws: Link) -> UpstreamProtocolError | None:
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


class DirectConnection:
    """Owns one upstream WebSocket: opened with a timeout, always closed."""

    __slots__ = ("_proxy", "_refusal", "_sign", "_timeouts", "_upstream")

    def __init__(self, sign: Signer, timeouts: Timeouts, proxy: Proxy, refusal: Refusal) -> None:
        self._sign = sign
        self._timeouts = timeouts
        self._proxy = proxy
        self._refusal = refusal
        self._upstream: Upstream | None = None

    async def __aenter__(self) -> Upstream:
        began = time.monotonic()
        ws = await open_connection(self._sign(), self._timeouts, self._proxy, self._refusal)
        self._upstream = Upstream(ws, pooled=False, connect_time=time.monotonic() - began)
        return self._upstream

    async def __aexit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await release(upstream.ws, self._timeouts.close, kind)


async def release(ws: Link, limit: float | None, kind: type[BaseException] | None) -> None:
    """End a request's connection: when the request was cancelled or its consumer closed it
    (``kind``: the client went away), the close frame goes out and the socket closes at once
    (:meth:`~.link.Link.leave`); otherwise the closing handshake waits for the server
    (:func:`close_quietly`), which then holds the TIME_WAIT."""
    if kind is not None and issubclass(kind, (asyncio.CancelledError, GeneratorExit)):
        ws.leave(limit)
    else:
        await close_quietly(ws, limit)


async def close_quietly(ws: Link, limit: float | None) -> None:
    """Close, waiting at most ``limit`` seconds for the peer; abort the socket if it will
    not answer (or if this is cancelled)."""
    try:
        await ws.close(limit)
    except OSError:
        ws.abort()


__all__ = [
    "MAX_FRAME_BYTES",
    "Connector",
    "DirectConnection",
    "DirectConnector",
    "Proxy",
    "Refusal",
    "Signer",
    "Timeouts",
    "Upstream",
    "close_quietly",
    "open_connection",
    "oversize_error",
    "release",
]
