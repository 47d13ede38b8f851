"""The load generator's clients: a lean HTTP/1.1 client (keep-alive, chunked SSE) for the
gateway and the vendor's proxy, and a direct Spark WebSocket client.

The HTTP client is a bare asyncio protocol, not httpx: at 1,000+ streams/s an SDK-grade client
would be the bottleneck on the load generator's core and hide the servers' differences.
Every call returns ``(ttft, total, ok)`` in seconds; ``ttft`` is the first body byte carrying
``data:`` (a stream) or the whole body (an answer).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

from asgi_spark.adapters.spark.auth import sign_url

APP_ID, KEY, SECRET = "bench-app", "bench-key", "bench-secret"
Result = tuple[float, float, bool]
#: A request that takes longer counts as an error (a stuck server must not stall the run).
TIMEOUT = 30.0


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def more(self) -> None:
        if self.closed:
            raise ConnectionError("closed by the server")
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter
        self.waiter = None


@dataclass
class HttpClient:
    """One keep-alive connection per worker (reopened when the server closes it)."""

    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict)
    _conn: _Conn | None = None

    async def _connection(self) -> _Conn:
        if self._conn is None or self._conn.closed:
            loop = asyncio.get_running_loop()
            _, proto = await loop.create_connection(_Conn, self.host, self.port)
            self._conn = proto
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()

    async def post(self, path: str, body: dict[str, object]) -> Result:
        data = json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n{extra}\r\n"
        ).encode()
        conn = await self._connection()
        t0 = time.perf_counter()
        assert conn.transport is not None
        conn.transport.write(head + data)
        try:
            return await self._response(conn, t0)
        except ConnectionError:
            self._conn = None
            return 0.0, time.perf_counter() - t0, False
        except BaseException:  # timed out or cancelled mid-response: drop the connection
            self.close()
            self._conn = None
            raise

    async def _response(self, conn: _Conn, t0: float) -> Result:
        buf = conn.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            await conn.more()
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        ttft = 0.0
        body = bytearray()
        if headers.get("transfer-encoding") == "chunked":
            while True:
                while (nl := buf.find(b"\r\n")) < 0:
                    await conn.more()
                size = int(buf[:nl], 16)
                while len(buf) < nl + 2 + size + 2:
                    await conn.more()
                chunk = buf[nl + 2 : nl + 2 + size]
                del buf[: nl + 2 + size + 2]
                if size == 0:
                    break
                if not ttft and b"data:" in chunk:
                    ttft = time.perf_counter() - t0
                body += chunk
        else:
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                await conn.more()
            body += buf[:length]
            del buf[:length]
            ttft = time.perf_counter() - t0
        total = time.perf_counter() - t0
        if headers.get("connection") == "close":
            self.close()
            self._conn = None
        ok = status == 200 and (b"[DONE]" in body or b'"choices"' in body)
        ok = ok and b'"error"' not in body
        return ttft, total, ok


def spark_frame(prompt: str) -> str:
    return json.dumps(
        {
            "header": {"app_id": APP_ID},
            "parameter": {"chat": {"domain": "generalv3.5", "max_tokens": 4096}},
            "payload": {"message": {"text": [{"role": "user", "content": prompt}]}},
        }
    )


async def direct(url: str, frame: str) -> Result:
    """A signed WebSocket straight to the simulator, like an official client."""
    t0 = time.perf_counter()
    ttft = 0.0
    ok = False
    async with connect(sign_url(url, KEY, SECRET), compression=None, ping_interval=None) as ws:
        await ws.send(frame)
        async for message in ws:
            if not ttft:
                ttft = time.perf_counter() - t0
            header = json.loads(message)["header"]
            if header["code"] != 0:
                break
            if header["status"] == 2:
                ok = True
                break
    return ttft, time.perf_counter() - t0, ok


Call = Callable[[], Awaitable[Result]]


async def run_batch(make: Callable[[int], Call], requests: int, concurrency: int) -> Batch:
    """``requests`` calls by ``concurrency`` workers; worker ``i`` calls ``make(i)()``."""
    left = [requests]
    out = Batch()

    async def worker(i: int) -> None:
        call = make(i)
        while left[0] > 0:
            left[0] -= 1
            try:
                ttft, total, ok = await asyncio.wait_for(call(), TIMEOUT)
            except (OSError, ConnectionError, ValueError, asyncio.TimeoutError) as exc:
                out.errors += 1
                out.last_error = repr(exc)
                continue
            if ok:
                out.ttft.append(ttft)
                out.total.append(total)
            else:
                out.errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    out.wall = time.perf_counter() - t0
    out.requests = requests
    return out


@dataclass
class Batch:
    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    wall: float = 0.0
    last_error: str = ""

    def merge(self, other: Batch) -> None:
        self.ttft += other.ttft
        self.total += other.total
        self.errors += other.errors
        self.requests += other.requests
        self.wall += other.wall
        self.last_error = other.last_error or self.last_error

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.wall if self.wall else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
