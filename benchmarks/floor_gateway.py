"""The floor: the least CPU a pure-Python asyncio gateway can spend on a streamed request.

    python benchmarks/floor_gateway.py --upstream ws://127.0.0.1:PORT --port PORT [--uvloop]

Not a product and not a test double: about a hundred lines of bare asyncio protocols that
do only what every gateway of this kind must do per request, and nothing a real one has to do
besides (no ASGI, no routing, no validation, no errors, no timeouts, no logging, no limits):

* read a keep-alive HTTP/1.1 request with a ``Content-Length`` body and decode its JSON;
* open one upstream TCP connection and WebSocket (Spark serves one request per connection),
  signed with the same ``sign_url`` the gateway uses (cached per second, as the gateway does);
* send one masked text frame with the Spark request;
* read the unmasked frames, decode each one's JSON, and write each frame's text as an SSE
  ``data:`` chunk (frames read together go out as one write, as in the gateway);
* send a close frame and close the socket after the final frame (``status`` 2).

``run.py`` measures it beside the gateway: the CPU it costs per streamed 10-chunk request is
what the asyncio loop, the kernel's two loopback TCP connections and the bare minimum of
Python per request cost on the machine, before any of a gateway's own work.  A target below
it cannot be met by any design that keeps the event loop it runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import struct
import time
from collections.abc import Coroutine
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec

from asgi_spark.adapters.spark.auth import sign_url

KEY, SECRET, APP_ID = "bench-key", "bench-secret", "bench-app"
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class Signer:
    def __init__(self, base: str) -> None:
        self.base, self.second, self.url = base, -1, ""

    def __call__(self) -> str:
        second = math.floor(time.time())
        if second != self.second:
            self.second, self.url = second, sign_url(self.base, KEY, SECRET)
        return self.url


def masked(payload: bytes, opcode: int = 1) -> bytes:
    """One client frame (RFC 6455 section 5.2): FIN, ``opcode``, masked ``payload``."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    mask = os.urandom(4)
    key = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + body


#: The head of every streamed answer (chunked: the length is not known in advance).
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
_running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def take_request(buf: bytes) -> tuple[bytes, bytes] | None:
    """The body of the first whole request in ``buf`` (``Content-Length`` only) and the bytes
    after it, or ``None`` while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if len(buf) < end + 4 + length:
        return None
    return buf[end + 4 : end + 4 + length], buf[end + 4 + length :]


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` as a task held until it ends."""
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)


class Upstream(asyncio.Protocol):
    def __init__(self, down: Downstream, url: str, content: str) -> None:
        self.down, self.url, self.content = down, url, content
        self.buf = b""
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        u = urlsplit(self.url)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {u.path}?{u.query} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buf = self.buf + data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            assert buf.startswith(b"HTTP/1.1 101"), buf[:80]
            buf, self.open = buf[end + 4 :], True
            frame = {
                "header": {"app_id": APP_ID},
                "parameter": {"chat": {"domain": "generalv3.5"}},
                "payload": {"message": {"text": [{"role": "user", "content": self.content}]}},
            }
            self.transport.write(masked(_encode(frame)))
        out: list[bytes] = []
        pos, done = 0, False
        while len(buf) - pos >= 2:
            size, head = buf[pos + 1] & 0x7F, 2
            if size == 126:
                if len(buf) - pos < 4:
                    break
                size, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif size == 127:
                if len(buf) - pos < 10:
                    break
                size, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + size:
                break
            opcode = buf[pos] & 0x0F
            payload = buf[pos + head : pos + head + size]
            pos += head + size
            if opcode == 1:
                spark: Any = _decode(payload)
                text = spark["payload"]["choices"]["text"][0]["content"]
                delta = {"choices": [{"index": 0, "delta": {"content": text}}]}
                out.append(b"data: " + _encode(delta) + b"\n\n")
                done = done or spark["header"]["status"] == 2
            elif opcode == 8:
                done = True
        self.buf = buf[pos:]
        if done:
            out.append(b"data: [DONE]\n\n")
        if out:
            self.down.relay(b"".join(out), done)
        if done:
            self.transport.write(masked(b"\x03\xe8", 8))
            self.transport.close()


class Downstream(asyncio.Protocol):
    def __init__(self, upstream: str, signer: Signer) -> None:
        self.signer = signer
        self.host, port = urlsplit(upstream).netloc.rsplit(":", 1)
        self.port = int(port)
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        request = take_request(self.buf)
        if request is None:
            return
        raw, self.buf = request
        body: Any = _decode(raw)
        self.transport.write(SSE_HEAD)
        spawn(self._open(body["messages"][-1]["content"]))

    async def _open(self, content: str) -> None:
        loop = asyncio.get_running_loop()
        url = self.signer()
        await loop.create_connection(lambda: Upstream(self, url, content), self.host, self.port)

    def relay(self, body: bytes, last: bool) -> None:
        assert self.transport is not None
        self.transport.write(b"%x\r\n%s\r\n%s" % (len(body), body, b"0\r\n\r\n" if last else b""))


async def serve(upstream: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    signer = Signer(upstream + "/v3.5/chat")  # one per process, as the gateway's
    server = await loop.create_server(lambda: Downstream(upstream, signer), "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the simulator, ws://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (the fast extra)")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.upstream, args.port))
    else:
        asyncio.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()
