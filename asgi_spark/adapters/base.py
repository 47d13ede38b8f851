"""The adapter contract, and :class:`WebSocketAdapter`, which owns a WebSocket's whole life.

An :class:`Adapter` is built once per configured model and turns one OpenAI request into an
async iterator of :mod:`asgi_spark.events` that ends with exactly one terminal event
(:class:`~asgi_spark.events.Finish`, optionally followed by usage, or
:class:`~asgi_spark.events.Failed`).

:class:`WebSocketAdapter` implements that with one WebSocket connection per request and leaves
four hooks to subclasses (the seed guide's extension path):

* :meth:`~WebSocketAdapter.build_url` - the (signed) URL to connect to;
* :meth:`~WebSocketAdapter.convert_request` - the frame(s) to send and per-request state;
* :meth:`~WebSocketAdapter.parse_frame` - one received frame → events;
* :meth:`~WebSocketAdapter.is_complete` - whether the answer is over.

Frame kinds are explicit: an outgoing frame is a ``str`` or a :class:`TextFrame` (sent as a
WebSocket *text* frame, opcode 0x1, the kind every Spark client sends) or a :class:`BinaryFrame`
(opcode 0x2).  Plain ``bytes`` are refused, because ``websockets`` would send them as binary.

Connections come from the adapter's :class:`~.connector.Connector` (direct by default, or a
warm :mod:`~.pool`) with the deadlines of :class:`~.connector.Timeouts` (connect, acquire,
first frame, idle, total, close), each raising its own phase error; the receiving deadlines are
one :class:`~.deadline.ExchangeDeadline` per exchange.  The connection is closed on every path:
success, upstream error, timeout, and cancellation (the client went away), because the socket
lives in an ``async with`` inside the iterator and the caller closes the iterator.

The first batch starts with a :class:`~asgi_spark.events.Connected` event (connect time,
pooled or not, when the request went out) for the request's record.  The first frame is a
batch of its own (it carries ``Started``, the commit point); after it, frames that are already
waiting in the connection's buffer when the adapter reads are parsed together into one batch
(at most :data:`COALESCE_FRAMES`), so that they reach the client as one write.  A pooled
connection found closed before it answered anything is replaced by a fresh one, once, before
anything is yielded.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final, Generic, TypeVar
from urllib.parse import urlsplit

import msgspec
from websockets.exceptions import ConnectionClosed, WebSocketException

from ..errors import GatewayError, UpstreamClosedError, UpstreamError, UpstreamUnavailableError
from ..events import Connected, Event, Failed
from ..gauges import Reading
from ..openai_types import ChatCompletionRequest
from ..secrets import mask_url_password, redact, redact_upstream
from .connector import Connector, DirectConnector, Proxy, Timeouts, oversize_error
from .deadline import ExchangeDeadline, Receive
from .handshake import body_message, refusal_error
from .link import Link

if TYPE_CHECKING:  # at run time the config package imports the registry, which imports this
    from ..config.schema import ModelEntry

StateT = TypeVar("StateT")

#: Most upstream frames parsed into one batch when they are already waiting together.
COALESCE_FRAMES: Final = 64


class Adapter(ABC):
    """One configured model's upstream.  Built once at start-up from its entry."""

    #: Name used in the ``adapter`` field of a model entry.
    name: ClassVar[str] = ""
    #: The msgspec Struct of the entry's ``config`` block (``None``: a plain JSON object that
    #: the adapter checks itself); see :mod:`asgi_spark.config.typed`.
    config_type: ClassVar[type[msgspec.Struct] | None] = None
    #: ``owned_by`` of this adapter's models in ``/v1/models``.
    owned_by: ClassVar[str] = "asgi-spark"

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry

    @abstractmethod
    def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        """Batches of events for ``request`` (one batch per upstream frame).

        Must end with one terminal event and release everything, also when the caller stops
        iterating early and closes the iterator.  Errors in ``request`` that are found before
        any I/O may be raised directly as :class:`~asgi_spark.errors.GatewayError`.
        """

    @property
    def supports_functions(self) -> bool:
        """Whether the model calls functions (decides how structured output is emulated)."""
        return True

    def ignored_params(self, request: ChatCompletionRequest) -> tuple[str, ...]:
        """The fields of ``request`` this model accepts but cannot honour (named to the client
        in the ``x-asgi-spark-ignored-params`` header and in the access log); none by default."""
        return ()

    def describe(self) -> dict[str, str]:
        """What ``check-config`` prints for this model.  Never include secrets."""
        return {
            "id": self.entry.id,
            "adapter": self.name,
            "base_url": self.entry.base_url,
            **self._describe_connection(),
        }

    def _describe_connection(self) -> dict[str, str]:
        """The deadlines and the proxy (a proxy password masked)."""
        t = Timeouts.for_entry(self.entry)
        slots = ", ".join(
            f"{name} {'off' if value is None else f'{value:g} s'}"
            for name, value in (
                ("connect", t.connect),
                ("first_frame", t.first_frame),
                ("idle", t.idle),
                ("total", t.total),
                ("close", t.close),
            )
        )
        proxy = self.entry.proxy
        shown = "none" if proxy is None else mask_url_password(proxy)
        pool = self.entry.pool
        warm = f"{pool.size}, max_idle {pool.max_idle:g} s" if pool.size else "off"
        return {"timeouts": slots, "proxy": shown, "pool": warm}

    def readings(self) -> Iterable[Reading]:
        """This model's state now, for the metrics (a pool's connections); none by default.
        The runtime adds the ``model`` label."""
        return ()

    async def aclose(self) -> None:
        """Release shared resources (none by default)."""
        return None


@dataclass(frozen=True, slots=True)
class TextFrame:
    """A WebSocket text frame (opcode 0x1).

    ``data`` is a ``str``, or ``bytes`` that are already UTF-8 (e.g. ``msgspec.json.encode``
    output): those go on the wire as they are, without a decode/encode copy.
    """

    data: str | bytes


@dataclass(frozen=True, slots=True)
class BinaryFrame:
    """A WebSocket binary frame (opcode 0x2).  Spark never reads one; other upstreams may."""

    data: bytes


OutgoingFrame = TextFrame | BinaryFrame


@dataclass(slots=True)
class Exchange(Generic[StateT]):
    """What :meth:`WebSocketAdapter.convert_request` returns: the frame(s) to send and state.

    Each frame is a ``str`` (a text frame), a :class:`TextFrame` or a :class:`BinaryFrame`.
    Plain ``bytes`` raise ``TypeError``: say which kind of frame they are.
    """

    frames: Sequence[str | OutgoingFrame]
    state: StateT
    #: ``frames`` with each ``str`` as a :class:`TextFrame`; checked on construction.
    outgoing: tuple[OutgoingFrame, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.outgoing = tuple(_outgoing(frame) for frame in self.frames)


def _outgoing(frame: object) -> OutgoingFrame:
    if isinstance(frame, TextFrame | BinaryFrame):
        return frame
    if isinstance(frame, str):
        return TextFrame(frame)
    if isinstance(frame, bytes | bytearray | memoryview):
        raise TypeError(
            "an outgoing WebSocket frame given as bytes is ambiguous: wrap it in "
            "TextFrame(data) (sent as text, what Spark reads) or BinaryFrame(data)"
        )
    raise TypeError(
        f"an outgoing WebSocket frame must be str, TextFrame or BinaryFrame, not "
        f"{type(frame).__name__}"
    )


class WebSocketAdapter(Adapter, Generic[StateT]):
    """Connection lifecycle for WebSocket upstreams; subclasses implement the four hooks."""

    #: How connections are opened (a warm pool can replace it).
    connector: Connector = DirectConnector()
    #: ``True``: :meth:`parse_frame` gets text frames as their UTF-8 ``bytes`` (no decode).
    raw_frames: ClassVar[bool] = False

    def timeouts(self) -> Timeouts:
        """The entry's deadlines (its ``timeouts`` slots, the rest from ``timeout``)."""
        return Timeouts.for_entry(self.entry)

    # ------------------------------------------------------------------------------ hooks

    @abstractmethod
    def build_url(self) -> str:
        """The URL to connect to, signed if the upstream needs it.  Never log it."""

    @abstractmethod
    def convert_request(self, request: ChatCompletionRequest) -> Exchange[StateT]:
        """Validate and translate ``request``; raise a GatewayError for what cannot be sent."""

    @abstractmethod
    def parse_frame(self, data: str | bytes, state: StateT) -> list[Event]:
        """Turn one received frame into events."""

    @abstractmethod
    def is_complete(self, state: StateT) -> bool:
        """True once the answer has reached its terminal event."""

    def on_close(self, state: StateT, code: int | None, reason: str) -> list[Event]:
        """Events for the connection ending before :meth:`is_complete` (default: an error).

        ``reason`` is upstream's: redact it (:func:`~asgi_spark.secrets.redact_upstream`) before
        it goes into a message."""
        detail = f"code {code}" if code is not None else "no close frame"
        reason = redact_upstream(reason, self.entry.api_key)
        return [
            Failed(
                UpstreamClosedError(
                    f"upstream closed the connection before the answer was "
                    f"complete ({detail}{': ' + reason if reason else ''})"
                )
            )
        ]

    def handshake_error(self, status: int, body: bytes) -> GatewayError:
        """Map a refused handshake (non-101 HTTP answer) to an error; keep upstream's words.

        The default reads :data:`~asgi_spark.adapters.handshake.GENERIC_RULES`; a vendor
        passes its own rows in front of them to :func:`~.handshake.refusal_error`."""
        return refusal_error(status, redact(body_message(body), self.entry.api_key))

    # -------------------------------------------------------------------------- lifecycle

    def proxy(self) -> Proxy:
        """Where to connect through: the entry's ``proxy`` ("auto" follows the environment)."""
        return self.entry.proxy

    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        exchange = self.convert_request(request)
        state = exchange.state
        timeouts = self.timeouts()
        deadline = ExchangeDeadline(
            first_frame=timeouts.first_frame, idle=timeouts.idle, total=timeouts.total
        )
        fresh = False

        def refusal(status: int, body: bytes) -> GatewayError:
            error = self.handshake_error(status, body)
            # the path may be named; the (signed) query never
            path = urlsplit(self.build_url()).path
            if status == 404 and path not in error.message:
                error.message = f"{error.message}; the path tried was {path!r}"
                error.args = (error.message,)
            return error

        try:
            while True:  # at most twice: a dead pooled connection is replaced once
                connection = self.connector.connect(
                    self.build_url,
                    timeouts,
                    proxy=self.proxy(),
                    refusal=refusal,
                    fresh=fresh,
                )
                async with connection as upstream:
                    ws = upstream.ws
                    recv = _raw_recv(ws) if self.raw_frames else ws.recv
                    connected: Connected | None = None
                    try:
                        for frame in exchange.outgoing:
                            # text=True sends UTF-8 bytes as a text frame as they are (no copy).
                            await ws.send(frame.data, text=isinstance(frame, TextFrame))
                        connected = Connected(
                            upstream.connect_time, upstream.pooled, time.monotonic()
                        )
                        data = await deadline.receive(recv)
                    except ConnectionClosed as closed:  # also while sending: closed right away
                        if upstream.pooled and not fresh:  # dropped while idle: replace it
                            upstream.dead = fresh = True
                            continue
                        head = [connected] if connected is not None else []
                        yield head + self._closed(state, closed, ws)
                        return
                    batch: list[Event] = [connected]
                    batch += self.parse_frame(data, state)
                    del data  # not held for the life of the stream
                    try:
                        while True:
                            yield batch
                            if self.is_complete(state):
                                return
                            batch = self.parse_frame(await deadline.receive(recv), state)
                            frames = 1
                            decode = not self.raw_frames
                            while frames < COALESCE_FRAMES and not self.is_complete(state):
                                waiting = ws.take(decode)  # here already, or None: no wait
                                if waiting is None:
                                    break
                                try:
                                    more = self.parse_frame(waiting, state)
                                except Exception:
                                    yield batch  # what was parsed before goes out first
                                    raise
                                batch += more
                                frames += 1
                    except ConnectionClosed as closed:
                        yield self._closed(state, closed, ws)
                    return
        except GatewayError as exc:
            yield [Failed(exc)]
        except OSError as exc:
            where = urlsplit(self.build_url())  # the host may be named; the signed query never
            host = f"{where.hostname}:{where.port or (443 if where.scheme == 'wss' else 80)}"
            message = f"cannot reach upstream {host}: {_describe_os_error(exc)}"
            yield [Failed(UpstreamUnavailableError(message))]
        except WebSocketException as exc:
            # The exception text may quote the signed URL (InvalidURI does): only its kind.
            yield [
                Failed(UpstreamError(f"upstream WebSocket handshake failed ({type(exc).__name__})"))
            ]
        finally:
            deadline.cancel()

    def _closed(self, state: StateT, closed: ConnectionClosed, ws: Link) -> list[Event]:
        too_big = oversize_error(closed, ws)  # a message the gateway would not read
        if too_big is not None:
            return [Failed(too_big)]
        rcvd = closed.rcvd
        code, reason = (rcvd.code, rcvd.reason) if rcvd else (None, "")
        return self.on_close(state, code, reason)


def _raw_recv(ws: Link) -> Receive:
    def recv() -> Awaitable[str | bytes]:
        return ws.recv(False)

    return recv


def _describe_os_error(exc: BaseException) -> str:
    text = redact_upstream(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "Adapter",
    "BinaryFrame",
    "Connector",
    "DirectConnector",
    "Exchange",
    "OutgoingFrame",
    "TextFrame",
    "Timeouts",
    "WebSocketAdapter",
    "body_message",
]
