"""A raw RFC 6455 server on loopback that records exactly what a client puts on the wire.

It does not use the ``websockets`` library: it reads the HTTP upgrade request and every client
frame byte by byte, so a test sees the real opcode, RSV bits, mask bit and length form of each
frame, the header names as written and in order, and the query string as sent.

Per connection (:class:`Captured`) it:

1. reads the upgrade request and records the request line, the headers (raw names, in order)
   and the raw query string; a request that is not a WebSocket upgrade gets ``400``;
2. answers ``101`` with the right ``Sec-WebSocket-Accept`` and no extension (whatever the
   client offered), at any path;
3. parses client frames: FIN, RSV1-3, opcode, mask bit, 7/16/64-bit length, unmasking.  Each
   frame is recorded; what breaks RFC 6455 for a client (an unmasked frame, RSV bits without an
   extension, a fragmented or oversized control frame, a non-minimal length, invalid UTF-8 in a
   text message, a bad close payload) is added to :attr:`Captured.violations`;
4. answers pings with pongs (recording them);
5. answers the first complete data message: a text frame holding a JSON object gets a scripted
   Spark answer as text frames (first frame ``status`` 0, final frame ``status`` 2 with
   ``payload.usage.text``, spec 3.1/3.2); anything else gets a Spark-style header-only error
   frame.  Then it sends close ``1000`` ``close this ws conn`` (spec 3.6), as Spark does;
6. waits for the client's close frame (echoing one if the client closed first) or EOF, records
   its code and reason, closes the TCP connection and sets :attr:`Captured.done`.

Later data messages are recorded, not answered.  Every wait is bounded by ``timeout``; a client
that never closes is a violation, not a hang.  ``await server.completed()`` returns the next
connection once it has ended, so tests synchronise on events, not sleeps.

::

    async with CaptureServer() as capture:
        ...                                   # point a client at capture.url + any path
        conn = await capture.completed()
        assert conn.data_frames[0].opcode == OP_TEXT
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
DATA_OPCODES: Final = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
CONTROL_OPCODES: Final = (OP_CLOSE, OP_PING, OP_PONG)

WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SPARK_CLOSE_REASON: Final = "close this ws conn"
#: A sid in Spark's format (spec 3.1), fixed so answers are reproducible.
CAPTURE_SID: Final = "cht000b0001@dx18d6fb9d758b894540"
#: The scripted answer: one piece per frame, the last one in the final (status 2) frame.
DEFAULT_ANSWER: Final = ("Captured by the wire test server. ", "This is the final frame.")

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_PAYLOAD_BYTES: Final = 8 * 1024 * 1024


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode()


async def accept_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """Read a client's opening handshake and accept it with a plain 101; the request head."""
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
    )
    return head


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked frame, as a server sends it, with the shortest length form."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode("utf-8")


def spark_answer(pieces: Sequence[str], *, sid: str = CAPTURE_SID) -> list[str]:
    """Spark text frames for ``pieces``: status 0 first, status 2 last with usage (spec 3.1/3.2).

    One piece gives a single frame with status 2.
    """
    frames = []
    last = len(pieces) - 1
    for seq, piece in enumerate(pieces):
        status = 2 if seq == last else (0 if seq == 0 else 1)
        payload: dict[str, Any] = {
            "choices": {
                "status": status,
                "seq": seq,
                "text": [{"content": piece, "role": "assistant", "index": 0}],
            }
        }
        if status == 2:
            completion = sum(len(p) for p in pieces)
            payload["usage"] = {
                "text": {
                    "question_tokens": 3,
                    "prompt_tokens": 3,
                    "completion_tokens": completion,
                    "total_tokens": 3 + completion,
                }
            }
        header = {"code": 0, "message": "Success", "sid": sid, "status": status}
        frames.append(json.dumps({"header": header, "payload": payload}, ensure_ascii=False))
    return frames


def spark_error(code: int, detail: str, *, sid: str = CAPTURE_SID) -> str:
    """A header-only Spark error frame (spec 3.5)."""
    clock = time.strftime("%H:%M:%S", time.gmtime()) + ".000"
    header = {"code": code, "message": f"ClientMsgError:({clock}) {detail}", "sid": sid}
    return json.dumps({"header": {**header, "status": 2}})


@dataclass(frozen=True, slots=True)
class Frame:
    """One client frame as it was on the wire.  ``payload`` is unmasked."""

    fin: bool
    rsv: tuple[bool, bool, bool]
    opcode: int
    masked: bool
    #: How the payload length was written: 7 (in the second byte), 16 or 64 (extended).
    length_form: int
    mask_key: bytes
    payload: bytes

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8


@dataclass(eq=False)
class Captured:
    """Everything one client sent on one connection."""

    peer: tuple[Any, ...]
    #: The upgrade request head exactly as received, up to and including the blank line.
    raw_head: bytes = b""
    request_line: str = ""
    #: Header (name, value) pairs with the names as the client wrote them, in order.
    headers: list[tuple[str, str]] = field(default_factory=list)
    handshake_accepted: bool = False
    frames: list[Frame] = field(default_factory=list)
    #: Complete data messages: (opcode of the first fragment, reassembled payload).
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    #: The client's close frame arrived before the server had sent its own (the server sends
    #: its close right after the answer, so this means the client closed before being answered).
    client_closed_first: bool = False
    #: The client closed TCP before sending a close frame.
    eof_without_close: bool = False
    answered: bool = False
    violations: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ request line

    @property
    def method(self) -> str:
        return self.request_line.split(" ")[0]

    @property
    def target(self) -> str:
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) == 3 else ""

    @property
    def http_version(self) -> str:
        return self.request_line.rsplit(" ", 1)[-1]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        """The raw query string, exactly as sent (not decoded)."""
        return urlsplit(self.target).query

    @property
    def query_keys(self) -> list[str]:
        """The query's keys, in order, as sent."""
        return [pair.split("=", 1)[0] for pair in self.query.split("&") if pair]

    def query_params(self) -> dict[str, str]:
        """The query decoded with form rules (``+`` is a space); each key must appear once."""
        parsed = parse_qs(self.query, keep_blank_values=True, strict_parsing=True)
        assert all(len(values) == 1 for values in parsed.values()), parsed
        return {key: values[0] for key, values in parsed.items()}

    # ----------------------------------------------------------------------- headers

    @property
    def header_names(self) -> list[str]:
        return [name for name, _ in self.headers]

    def header(self, name: str) -> str | None:
        """The value of ``name`` (any case); several occurrences are joined with ``, ``."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    # ------------------------------------------------------------------------ frames

    @property
    def data_frames(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.opcode in DATA_OPCODES]

    @property
    def pings(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.opcode == OP_PING]

    @property
    def opcodes(self) -> list[int]:
        return [frame.opcode for frame in self.frames]


class _Violation(Exception):
    """The client broke the protocol in a way that ends the connection."""


class CaptureServer:
    """Listens on ``127.0.0.1`` (an ephemeral port) and records each connection.

    ``answer`` is the scripted answer's pieces (see :func:`spark_answer`).  ``timeout`` bounds
    every wait for the client (seconds).  Use as an async context manager; leaving it closes
    every connection still open.
    """

    def __init__(self, *, answer: Sequence[str] = DEFAULT_ANSWER, timeout: float = 5.0) -> None:
        self.answer = tuple(answer)
        self.timeout = timeout
        self.connections: list[Captured] = []
        self._cursor = 0  # connections before it were returned by completed() or skipped
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``; append any path."""
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> CaptureServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        # Connections still open end by themselves once their transport is gone.
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def completed(self, timeout: float = 10.0) -> Captured:
        """The next connection (in order of arrival) once it has ended; each is returned once."""

        def ready() -> bool:
            return (
                self._cursor < len(self.connections)
                and self.connections[self._cursor].done.is_set()
            )

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(ready)

        await asyncio.wait_for(wait(), timeout)
        self._cursor += 1
        return self.connections[self._cursor - 1]

    def skip(self) -> None:
        """Forget the connections :meth:`completed` has not returned (an earlier test's)."""
        self._cursor = len(self.connections)

    @property
    def pending(self) -> int:
        """Connections, ended or not, that :meth:`completed` has not returned yet."""
        return len(self.connections) - self._cursor

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -------------------------------------------------------------------- connection

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        conn = Captured(peer=tuple(writer.get_extra_info("peername") or ()))
        self.connections.append(conn)
        await self._notify()
        try:
            await self._converse(conn, reader, writer)
        except _Violation as exc:
            conn.violations.append(str(exc))
        except (asyncio.TimeoutError, TimeoutError):
            conn.violations.append(f"the client was silent for {self.timeout:g} s")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            conn.violations.append(f"connection lost: {type(exc).__name__}")
        except Exception as exc:  # a bug here must fail the test that reads the capture
            conn.violations.append(f"capture server error: {exc!r}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._handlers.discard(task)
            conn.done.set()
            await self._notify()

    async def _converse(
        self, conn: Captured, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        key = await self._handshake(conn, reader, writer)
        if key is None:
            return
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii") + b"\r\n\r\n"
        )
        await writer.drain()
        conn.handshake_accepted = True
        await self._frames(conn, reader, writer)

    async def _handshake(
        self, conn: Captured, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str | None:
        """Read and record the upgrade request; the client's key, or ``None`` after a 400."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout)
        except asyncio.LimitOverrunError:
            raise _Violation("the upgrade request head is too large") from None
        if len(head) > MAX_HEAD_BYTES:
            raise _Violation("the upgrade request head is too large")
        conn.raw_head = head
        lines = head[:-4].decode("latin-1").split("\r\n")
        conn.request_line = lines[0]
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                conn.violations.append(f"malformed header line {line!r}")
                continue
            conn.headers.append((name, value.strip()))
        problem = _upgrade_problem(conn)
        if problem is not None:
            conn.violations.append(problem)
            body = problem.encode()
            writer.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            return None
        return conn.header("Sec-WebSocket-Key")

    async def _frames(
        self, conn: Captured, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read frames until the client's close frame or EOF."""
        server_closed = False
        fragments: list[bytes] = []
        message_opcode: int | None = None
        while True:
            frame = await self._read_frame(conn, reader)
            if frame is None:
                conn.eof_without_close = True
                if not server_closed:
                    conn.violations.append("the client closed TCP without a close frame")
                return
            conn.frames.append(frame)
            if frame.opcode == OP_PING:
                writer.write(encode_frame(OP_PONG, frame.payload))
                await writer.drain()
            elif frame.opcode == OP_PONG:
                pass
            elif frame.opcode == OP_CLOSE:
                conn.close_code, conn.close_reason = _parse_close(conn, frame.payload)
                if not server_closed:
                    conn.client_closed_first = True
                    writer.write(encode_frame(OP_CLOSE, frame.payload[:2]))
                    await writer.drain()
                return
            else:
                if frame.opcode == OP_CONTINUATION:
                    if message_opcode is None:
                        raise _Violation("a continuation frame without a message to continue")
                elif message_opcode is not None:
                    raise _Violation("a new data frame before the last message was finished")
                else:
                    message_opcode = frame.opcode
                fragments.append(frame.payload)
                if not frame.fin:
                    continue
                payload = b"".join(fragments)
                opcode, message_opcode, fragments = message_opcode, None, []
                conn.messages.append((opcode, payload))
                if opcode == OP_TEXT:
                    try:
                        payload.decode("utf-8")
                    except UnicodeDecodeError:
                        conn.violations.append("a text message that is not valid UTF-8")
                if not conn.answered and not server_closed:
                    conn.answered = True
                    for text in self._answer_for(opcode, payload):
                        writer.write(encode_frame(OP_TEXT, text.encode("utf-8")))
                        await writer.drain()
                    writer.write(encode_frame(OP_CLOSE, close_payload(1000, SPARK_CLOSE_REASON)))
                    await writer.drain()
                    server_closed = True

    def _answer_for(self, opcode: int, payload: bytes) -> list[str]:
        if opcode != OP_TEXT:
            return [spark_error(10001, "capture server: the request frame is not a text frame")]
        try:
            request = json.loads(payload.decode("utf-8"))
        except ValueError:
            return [spark_error(10160, "capture server: the request frame is not JSON")]
        if not isinstance(request, dict):
            return [spark_error(10160, "capture server: the request frame is not a JSON object")]
        return spark_answer(self.answer)

    async def _read_frame(self, conn: Captured, reader: asyncio.StreamReader) -> Frame | None:
        """One frame, or ``None`` at a clean EOF between frames."""
        try:
            first = await asyncio.wait_for(reader.readexactly(2), self.timeout)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise

        async def read(n: int) -> bytes:
            return await asyncio.wait_for(reader.readexactly(n), self.timeout)

        b0, b1 = first
        fin = bool(b0 & 0x80)
        rsv = (bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10))
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        length_form = 7
        if length == 126:
            length, length_form = int.from_bytes(await read(2), "big"), 16
            if length < 126:
                conn.violations.append(f"16-bit length form for a {length}-byte payload")
        elif length == 127:
            length, length_form = int.from_bytes(await read(8), "big"), 64
            if length < 1 << 16:
                conn.violations.append(f"64-bit length form for a {length}-byte payload")
            if length >> 63:
                raise _Violation("the 64-bit payload length has its top bit set")
        if opcode not in DATA_OPCODES + CONTROL_OPCODES:
            raise _Violation(f"unknown opcode 0x{opcode:x}")
        if any(rsv):
            conn.violations.append(f"RSV bits {rsv} set without a negotiated extension")
        if not masked:
            conn.violations.append(f"an unmasked client frame (opcode 0x{opcode:x})")
        if opcode in CONTROL_OPCODES and (not fin or length > 125):
            conn.violations.append(f"a fragmented or oversized control frame (0x{opcode:x})")
        if length > MAX_PAYLOAD_BYTES:
            raise _Violation(f"a {length}-byte frame is larger than the capture limit")
        mask_key = await read(4) if masked else b""
        payload = await read(length) if length else b""
        if masked:
            payload = _unmask(payload, mask_key)
        return Frame(fin, rsv, opcode, masked, length_form, mask_key, payload)


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def _parse_close(conn: Captured, payload: bytes) -> tuple[int | None, str | None]:
    if not payload:
        return None, None  # no status code: "1005" in RFC 6455 terms
    if len(payload) == 1:
        conn.violations.append("a close frame with a one-byte payload")
        return None, None
    code = int.from_bytes(payload[:2], "big")
    if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code < 5000):
        conn.violations.append(f"close code {code} may not be sent by a client")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        conn.violations.append("a close reason that is not valid UTF-8")
        reason = payload[2:].decode("utf-8", "replace")
    return code, reason


def _upgrade_problem(conn: Captured) -> str | None:
    parts = conn.request_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        return f"not a GET .. HTTP/1.1 request line: {conn.request_line!r}"
    if (conn.header("Upgrade") or "").lower() != "websocket":
        return "no 'Upgrade: websocket' header"
    tokens = [t.strip().lower() for t in (conn.header("Connection") or "").split(",")]
    if "upgrade" not in tokens:
        return "no 'Connection: Upgrade' header"
    if conn.header("Sec-WebSocket-Version") != "13":
        return "Sec-WebSocket-Version is not 13"
    key = conn.header("Sec-WebSocket-Key") or ""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "Sec-WebSocket-Key is not 16 bytes in base64"
    except ValueError:
        return "Sec-WebSocket-Key is not base64"
    if conn.header("Host") is None:
        return "no Host header"
    return None
