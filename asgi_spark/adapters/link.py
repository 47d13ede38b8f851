"""A lean WebSocket client for one request per connection: ``websockets``' Sans-I/O
:class:`~websockets.client.ClientProtocol` driven by a plain :class:`asyncio.Protocol`.

``websockets``' own asyncio client (``websockets.asyncio.client``) is made for long-lived
connections: each one carries a message assembler with its own futures and locks, a send
context manager per frame, a keepalive machinery, the handshake awaited through
``asyncio.wait``, and redirects.  A gateway that opens one connection per request, sends one
frame and reads an answer pays for all of it on every request (about a quarter of its CPU,
``benchmarks/README.md``).  :class:`Link` keeps the protocol logic where it is (handshake
checks, framing, the close handshake, pings answered, ``max_size``: all ``websockets``') and
replaces only the I/O layer, the pattern of ``websockets``' own ``asyncio/connection.py``:

* **receiving**: every complete message goes into a list; :meth:`Link.recv` takes the oldest
  or waits for one on a single future.  Reading pauses at :data:`HIGH_WATER` buffered messages
  and resumes at :data:`LOW_WATER`, so a slow client cannot make the gateway buffer an
  upstream's whole answer;
* **sending**: a frame is written at once (one small request frame: no flow control);
* **the fast paths**: the handshake's answer and plain data frames, nearly all of the traffic,
  are read by :mod:`.wsfast` without ``websockets``' generator parsers (after a plain ``101``
  the protocol object is set open with a fresh frame parser); the first byte of anything
  else goes, with everything after it, to ``websockets``.  At DEBUG level on
  ``asgi_spark.upstream`` the fast paths are off, so ``websockets`` logs every frame as before;
* **ending**: once a close frame has come (or the parser failed), :meth:`Link.recv` raises
  :class:`~websockets.exceptions.ConnectionClosed` after the buffered messages, without waiting
  for TCP to close; a parser error (a message over ``max_size``, a protocol error) closes the
  transport right after the close frame is written, so a peer that keeps streaming cannot make
  the gateway wait; :meth:`Link.close` does the closing handshake and waits at most ``limit``
  seconds for the server to close TCP (the server closes first, so the TIME_WAIT is its own),
  then aborts.

:func:`~.dial.open_link` opens one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Final, Literal, cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import OK_CLOSE_CODES, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State

from .wsfast import MAX_HEAD, clean_switch, scan

if TYPE_CHECKING:
    from websockets.protocol import Event

#: Buffered messages at which reading from the socket pauses, and at which it resumes.
HIGH_WATER: Final = 16
LOW_WATER: Final = 4

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_OPEN, _CLOSED = State.OPEN, State.CLOSED


class Link(asyncio.Protocol):
    """One client WebSocket connection: see the module docstring.

    ``protocol`` is the connection's state (``websockets``' Sans-I/O object, readable by the
    caller: ``protocol.parser_exc``, ``protocol.close_rcvd``, ...); ``transport`` the socket.
    """

    __slots__ = (
        "_fast",
        "_fragments",
        "_fragments_text",
        "_head",
        "_lost",
        "_lost_waiter",
        "_max_size",
        "_messages",
        "_paused",
        "_rest",
        "_waiter",
        "accepted",
        "loop",
        "protocol",
        "read_fast",
        "transport",
    )

    def __init__(
        self,
        protocol: ClientProtocol,
        loop: asyncio.AbstractEventLoop,
        *,
        max_size: int | None = None,
        fast: bool = True,
    ) -> None:
        self.protocol = protocol
        self.loop = loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # connection_made
        #: The handshake succeeded.
        self.accepted = False
        #: ... and its answer was read on the fast path.
        self.read_fast = False
        self._max_size = max_size
        self._fast = fast  # frames on the fast path (until the first other one)
        #: The handshake's answer so far while the fast path reads it.
        self._head: bytearray | None = bytearray() if fast else None
        self._rest = b""  # the start of a frame that has not fully arrived (fast path)
        #: Whole messages not read yet (a list: an empty deque costs 600 bytes per stream).
        self._messages: list[tuple[bool, bytes | bytearray]] = []
        self._fragments: list[bytes | bytearray] | None = None
        self._fragments_text = False
        self._waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._lost_waiter: asyncio.Future[None] | None = None
        self._paused = False

    # ------------------------------------------------------------------------ the state

    @property
    def state(self) -> State:
        return self.protocol.state

    def waiting(self) -> bool:
        """Whether a whole message is already buffered (:meth:`recv` will not wait)."""
        return bool(self._messages)

    @property
    def closed(self) -> bool:
        """The socket is closed (``connection_lost`` has run)."""
        return self._lost

    # -------------------------------------------------------------------- the user's side

    async def recv(self, decode: bool = True) -> str | bytes:
        """The next message: a text message as ``str`` (``bytes`` when ``decode`` is false), a
        binary one as ``bytes``.  Raises :class:`ConnectionClosed` once the connection has
        ended and every buffered message was read.  Cancellation-safe."""
        messages = self._messages
        while not messages:
            protocol = self.protocol
            if (
                self._lost
                or protocol.close_rcvd is not None
                or protocol.parser_exc is not None
                or protocol.state is _CLOSED
            ):
                raise self.close_exc()
            waiter = self._waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._pop(decode)

    def take(self, decode: bool = True) -> str | bytes | None:
        """The next message if one is already buffered (as :meth:`recv` gives it), else
        ``None``: no waiting, and no coroutine per message when frames are coalesced."""
        return self._pop(decode) if self._messages else None

    def _pop(self, decode: bool) -> str | bytes:
        messages = self._messages
        text, data = messages.pop(0)  # at most HIGH_WATER and one read's worth
        if self._paused and len(messages) <= LOW_WATER:
            self._paused = False
            if not self._lost:
                self.transport.resume_reading()
        # websockets' parser gives a bytearray: bytes() copies it (as websockets' own recv
        # does), the decode does not need to
        return data.decode() if text and decode else bytes(data)

    async def send(self, data: str | bytes, *, text: bool) -> None:
        """Send one message, as a text frame (``str``, or ``bytes`` already UTF-8) or a binary
        one.  Raises :class:`ConnectionClosed` when the connection is not open."""
        protocol = self.protocol
        if protocol.state is not _OPEN or self._lost:
            raise self.close_exc()
        payload = data.encode() if isinstance(data, str) else data
        if text:
            protocol.send_text(payload)
        else:
            protocol.send_binary(payload)
        self._flush()

    async def close(self, limit: float | None) -> None:
        """The closing handshake (code 1000 unless one is under way), then wait at most
        ``limit`` seconds (``None``: no limit) for the server to close the socket; abort it
        if it does not, and also when this wait is cancelled."""
        if self._lost:
            return
        self._send_close()
        if self._lost:
            return
        waiter = self._lost_waiter = self.loop.create_future()
        timer = None if limit is None else self.loop.call_later(limit, self.abort)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if not self._lost:
                self.abort()

    def _send_close(self) -> None:
        """The close frame (1000), unless a closing handshake is under way."""
        if self.protocol.state is _OPEN:
            self.protocol.send_close(1000)
            self._flush()

    def leave(self, limit: float | None) -> None:
        """For a caller that is gone: the close frame (1000) and the socket closed now, not
        waiting for the server's close (the socket is aborted if it has not closed within
        ``limit`` seconds, as when the peer does not read)."""
        if self._lost:
            return
        self._send_close()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()  # the close frame is flushed first
        if limit is not None and not self._lost:
            self.loop.call_later(limit, self._force_close)

    def _force_close(self) -> None:
        if not self._lost and self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        """Return once the socket is closed."""
        if not self._lost:
            if self._lost_waiter is None:
                self._lost_waiter = self.loop.create_future()
            await asyncio.shield(self._lost_waiter)

    def abort(self) -> None:
        """Close the socket now, without a closing handshake."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def close_exc(self) -> ConnectionClosed:
        """The :class:`ConnectionClosed` that says how the connection ended: the close frames
        received and sent, chained to the parser's error, as ``websockets`` raises it."""
        protocol = self.protocol
        if protocol.state is _CLOSED:
            return protocol.close_exc
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        ok = (
            rcvd is not None
            and sent is not None
            and rcvd.code in OK_CLOSE_CODES
            and sent.code in OK_CLOSE_CODES
        )
        exc = (ConnectionClosedOK if ok else ConnectionClosedError)(
            rcvd, sent, protocol.close_rcvd_then_sent
        )
        exc.__cause__ = protocol.parser_exc
        return exc

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head is not None:  # the handshake's answer, on the fast path
            head += data
            end = head.find(b"\r\n\r\n")
            if end < 0 and len(head) <= MAX_HEAD:
                return  # more to come
            self._head = None
            protocol = self.protocol
            if end < 0 or not clean_switch(bytes(head[: end + 4]), protocol.key):
                self._fast = False
                self._receive(bytes(head))  # websockets judges it (and raises its error)
                return
            # The same protocol object goes on, open, with a fresh frame parser: what
            # Protocol.__init__ does for a connection created open (the handshake's parser,
            # waiting for an answer that was read here, is dropped).
            protocol.state = _OPEN
            protocol.parser = protocol.parse()
            next(protocol.parser)
            self.accepted = self.read_fast = True
            data = bytes(head[end + 4 :])
        if self._fast and self.accepted:
            if self._rest:
                data = self._rest + data
            used, other = scan(data, self._max_size, self._push)
            if other:  # a close, a ping, a fragment...: websockets from here on
                self._fast = False
                self._rest = b""
                self._receive(data[used:])
                return
            self._rest = data[used:] if used < len(data) else b""
            self._wake()
            return
        self._receive(data)

    def eof_received(self) -> Literal[False]:
        self._hand_over()
        protocol = self.protocol
        protocol.receive_eof()
        events = protocol.events_received()  # a handshake answer read until EOF
        self._flush()
        for event in events:
            self._event(event)
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._hand_over()
        protocol = self.protocol
        protocol.receive_eof()  # idempotent: the state is CLOSED now
        for event in protocol.events_received():
            self._event(event)
        self._lost = True
        self._wake()
        lost = self._lost_waiter
        if lost is not None and not lost.done():
            lost.set_result(None)

    # --------------------------------------------------------------------------- inside

    def _receive(self, data: bytes) -> None:
        """``data`` to websockets' protocol; what it sends back is written at once."""
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._flush()
        if protocol.parser_exc is not None and not self.transport.is_closing():
            self.transport.close()  # flushes the close frame, then closes: fail fast
        for event in events:
            self._event(event)
        self._wake()

    def _hand_over(self) -> None:
        """At the end of the stream, what the fast paths still hold goes to websockets."""
        head, self._head = self._head, None
        if head:
            self.protocol.receive_data(bytes(head))
        rest, self._rest = self._rest, b""
        if rest:
            self.protocol.receive_data(rest)
        self._fast = False

    def _event(self, event: Event) -> None:
        if not isinstance(event, Frame):
            if isinstance(event, Response):
                self.accepted = True  # unless handshake_exc says otherwise
            return
        opcode = event.opcode
        data = cast("bytes | bytearray", event.data)  # Frame.parse gives a bytearray
        if opcode is _TEXT or opcode is _BINARY:
            if event.fin:
                self._push(opcode is _TEXT, data)
            else:
                self._fragments = [data]
                self._fragments_text = opcode is _TEXT
        elif opcode is _CONT:
            fragments = self._fragments
            if fragments is not None:  # the protocol checked the order
                fragments.append(data)
                if event.fin:
                    self._fragments = None
                    self._push(self._fragments_text, b"".join(fragments))
        # close, ping and pong: the protocol answered them already

    def _push(self, text: bool, data: bytes | bytearray) -> None:
        """One whole message in (from websockets or the fast path)."""
        messages = self._messages
        messages.append((text, data))
        if not self._paused and len(messages) >= HIGH_WATER:
            self._paused = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        transport = self.transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():  # half-close, as websockets does
                with contextlib.suppress(OSError, RuntimeError):
                    transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()


__all__ = ["HIGH_WATER", "LOW_WATER", "Link"]
