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

Limits and timeouts (:class:`Timeouts`): connecting (TCP + TLS + handshake), waiting for the
first frame, waiting between frames, and the whole exchange.  The connection is closed on every
path: success, upstream error, timeout, and cancellation (the client went away), because the
socket lives in an ``async with`` inside the iterator and the caller closes the iterator.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..config import ModelEntry
from ..errors import (
    GatewayError,
    UpstreamClosedError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from ..events import Event, Failed
from ..openai_types import ChatCompletionRequest

StateT = TypeVar("StateT")
Clock = Callable[[], float]

#: Largest upstream frame accepted (bytes).  Spark frames are a few KB; this bounds memory.
MAX_FRAME_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds.  ``None`` disables a limit.

    ``connect``: TCP connect, TLS and the WebSocket handshake.  ``first_frame``: from sending the
    request to the first upstream frame.  ``idle``: between two upstream frames.  ``total``: the
    whole exchange from connecting to the last frame.
    """

    connect: float | None = 10.0
    first_frame: float | None = 60.0
    idle: float | None = 60.0
    total: float | None = 300.0

    @classmethod
    def for_entry(cls, entry: ModelEntry) -> Timeouts:
        """The seed's single ``timeout`` bounds connecting (at most 10 s) and waiting for any
        frame; a whole answer may take ``max(10 * timeout, 600)`` seconds, which only stops
        an upstream that keeps sending without ever finishing."""
        t = entry.timeout
        return cls(connect=min(10.0, t), first_frame=t, idle=t, total=max(10 * t, 600.0))


class Adapter(ABC):
    """One configured model's upstream.  Built once at start-up from its entry."""

    #: Name used in the ``adapter`` field of a model entry.
    name: ClassVar[str] = ""
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

    def describe(self) -> dict[str, str]:
        """What ``check-config`` prints for this model.  Never include secrets."""
        return {"id": self.entry.id, "adapter": self.name, "base_url": self.entry.base_url}

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

    def timeouts(self) -> Timeouts:
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
        """Events for the connection ending before :meth:`is_complete` (default: an error)."""
        detail = f"code {code}" if code is not None else "no close frame"
        return [
            Failed(
                UpstreamClosedError(
                    f"upstream closed the connection before the answer was "
                    f"complete ({detail}{': ' + reason if reason else ''})"
                )
            )
        ]

    def handshake_error(self, status: int, body: bytes) -> GatewayError:
        """Map a refused handshake (non-101 HTTP answer) to an error.  Keep upstream's words."""
        message = body_message(body)
        if status in (401, 403):
            return UpstreamError(
                f"upstream refused the gateway's credentials (HTTP {status}): {message}",
                code="upstream_auth_failed",
            )
        if status in (429, 503):
            return UpstreamUnavailableError(f"upstream is unavailable (HTTP {status}): {message}")
        return UpstreamError(f"upstream refused the connection (HTTP {status}): {message}")

    # -------------------------------------------------------------------------- lifecycle

    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        exchange = self.convert_request(request)
        timeouts = self.timeouts()
        deadline = None if timeouts.total is None else time.monotonic() + timeouts.total
        try:
            async with self._connect(timeouts) as ws:
                for frame in exchange.outgoing:
                    # text=True sends UTF-8 bytes as a text frame as they are (no copy).
                    await ws.send(frame.data, text=isinstance(frame, TextFrame))
                wait = timeouts.first_frame
                while True:
                    try:
                        data = await _recv(ws, wait, deadline)
                    except ConnectionClosed as closed:
                        rcvd = closed.rcvd
                        code, reason = (rcvd.code, rcvd.reason) if rcvd else (None, "")
                        yield self.on_close(exchange.state, code, reason)
                        return
                    yield self.parse_frame(data, exchange.state)
                    if self.is_complete(exchange.state):
                        return
                    wait = timeouts.idle
        except _Timeout as exc:
            yield [Failed(UpstreamTimeoutError(str(exc)))]
        except GatewayError as exc:
            yield [Failed(exc)]
        except OSError as exc:
            yield [
                Failed(
                    UpstreamUnavailableError(f"cannot reach upstream: {_describe_os_error(exc)}")
                )
            ]
        except InvalidHandshake as exc:
            # The exception text may quote the signed URL: report only its kind.
            yield [
                Failed(UpstreamError(f"upstream WebSocket handshake failed ({type(exc).__name__})"))
            ]

    def _connect(self, timeouts: Timeouts) -> _Connection:
        return _Connection(self, timeouts)


class _Timeout(Exception):
    pass


class _Connection:
    """Async context manager owning one upstream WebSocket: opened with a timeout, always closed."""

    def __init__(self, adapter: WebSocketAdapter[Any], timeouts: Timeouts) -> None:
        self._adapter = adapter
        self._timeouts = timeouts
        self._ws: ClientConnection | None = None

    async def __aenter__(self) -> ClientConnection:
        url = self._adapter.build_url()
        try:
            self._ws = await connect(
                url,
                open_timeout=self._timeouts.connect,
                max_size=MAX_FRAME_BYTES,
                ping_interval=None,
                compression=None,
                proxy=None,
            )
        except InvalidStatus as exc:
            response = exc.response
            raise self._adapter.handshake_error(
                response.status_code, bytes(response.body or b"")
            ) from None
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes before 3.11
            raise _Timeout(
                f"connecting to upstream took longer than {self._timeouts.connect:g} s"
            ) from None
        return self._ws

    async def __aexit__(self, *exc: object) -> None:
        ws = self._ws
        if ws is not None:
            self._ws = None
            await _close_quietly(ws)


async def _close_quietly(ws: ClientConnection) -> None:
    """Close, waiting at most a moment for the peer; abort the transport if it will not answer."""
    try:
        await asyncio.wait_for(ws.close(), timeout=2.0)
    except (asyncio.TimeoutError, OSError, ConnectionClosed):
        pass
    finally:
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()


async def _recv(ws: ClientConnection, wait: float | None, deadline: float | None) -> str | bytes:
    limit = wait
    total_hit = False
    if deadline is not None:
        remaining = max(0.0, deadline - time.monotonic())
        if limit is None or remaining < limit:
            limit, total_hit = remaining, True
    try:
        return await asyncio.wait_for(ws.recv(), timeout=limit)
    except asyncio.TimeoutError:
        if total_hit:
            raise _Timeout("the upstream answer took longer than the total time limit") from None
        raise _Timeout(f"upstream sent nothing for {limit:g} s") from None


def body_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:500] or "(empty body)"
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return text[:500]


def _describe_os_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = [
    "Adapter",
    "BinaryFrame",
    "Exchange",
    "OutgoingFrame",
    "TextFrame",
    "Timeouts",
    "WebSocketAdapter",
]
