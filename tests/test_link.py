"""The lean WebSocket client (asgi_spark/adapters/link.py) over loopback sockets, against
``websockets``' own server and against raw peers: buffering and coalescing, fragments, flow
control, pings, the close handshake, deaf peers, refused and broken handshakes, timeouts and
cancellation.  Every test synchronises on events, not sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidMessage,
    InvalidStatus,
)
from websockets.protocol import State

from asgi_spark.adapters.dial import open_link
from asgi_spark.adapters.link import HIGH_WATER, LOW_WATER, Link
from tests.wire.capture import OP_CONTINUATION, OP_TEXT, accept_handshake, encode_frame

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler, **options: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **options) as srv:  # type: ignore[arg-type]
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/chat"


async def link_to(url: str, *, max_size: int = 2**20, limit: float | None = 5) -> Link:
    return await open_link(url, max_size=max_size, proxy=None, limit=limit)


@asynccontextmanager
async def raw_peer(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A peer that accepts the handshake by hand, then runs ``answer``."""
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_handshake(reader, writer)
        try:
            await answer(reader, writer)
        finally:
            await done.wait()
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/chat"
    finally:
        done.set()
        srv.close()
        await srv.wait_closed()


async def test_buffered_messages_are_read_before_the_close_and_waiting_says_so() -> None:
    """Coalescing relies on ``waiting()``: true exactly while a whole message is buffered."""

    async def two_then_close(ws: ServerConnection) -> None:
        await ws.send("a")
        await ws.send(b"b")

    async with server(two_then_close) as url:
        link = await link_to(url)
        await link.wait_closed()  # both messages are in the buffer now
        assert link.waiting()
        assert await link.recv() == "a"
        assert link.waiting()
        assert link.take() == b"b"  # binary stays bytes; take() gives what is buffered
        assert not link.waiting()
        assert link.take() is None  # and never waits
        with pytest.raises(ConnectionClosedOK) as info:
            await link.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000
        assert link.state is State.CLOSED
        await link.close(1)  # nothing left to do


async def test_text_is_str_or_its_utf8_bytes_and_sending_text_keeps_bytes_as_they_are() -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with server(echo) as url:
        link = await link_to(url)
        try:
            await link.send("你好", text=True)
            assert await link.recv() == "你好"
            await link.send("你好".encode(), text=True)  # a text frame, no decode/encode
            raw = await link.recv(False)
            assert type(raw) is bytes and raw == "你好".encode()
            await link.send(b"\x00\x01", text=False)
            assert await link.recv() == b"\x00\x01"
        finally:
            await link.close(1)
        assert link.closed


async def test_fragments_are_one_message() -> None:
    async def fragments(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_frame(OP_TEXT, b"hel", fin=False))
        writer.write(encode_frame(OP_CONTINUATION, b"lo ", fin=False))
        writer.write(encode_frame(OP_CONTINUATION, "世界".encode()))
        await writer.drain()

    async with raw_peer(fragments) as url:
        link = await link_to(url)
        try:
            assert await link.recv() == "hello 世界"
        finally:
            link.abort()


async def test_reading_pauses_at_the_high_water_mark_and_resumes_below_the_low() -> None:
    sent = asyncio.Event()
    count = HIGH_WATER * 3

    async def many(ws: ServerConnection) -> None:
        for i in range(count):
            await ws.send(str(i))
        sent.set()
        await ws.wait_closed()

    async with server(many) as url:
        link = await link_to(url)
        try:
            for _ in range(10_000):  # let the socket be read, one loop turn at a time
                if len(link._messages) >= HIGH_WATER:
                    break
                await asyncio.sleep(0)
            # paused after the read that reached the mark (one read may carry several)
            assert not link.transport.is_reading()
            buffered = len(link._messages)
            for _ in range(3):
                await asyncio.sleep(0)
            assert len(link._messages) == buffered  # nothing more is read while paused
            for i in range(buffered - LOW_WATER):
                assert await link.recv() == str(i)
            assert link.transport.is_reading()
            received = [await link.recv() for _ in range(count - (buffered - LOW_WATER))]
            assert received == [str(i) for i in range(buffered - LOW_WATER, count)]
            await sent.wait()
        finally:
            await link.close(1)


async def test_a_ping_is_answered() -> None:
    answered = asyncio.Event()

    async def ping(ws: ServerConnection) -> None:
        pong = await ws.ping(b"x")
        await pong
        answered.set()
        await ws.send("after")

    async with server(ping) as url:
        link = await link_to(url)
        try:
            assert await link.recv() == "after"
            assert answered.is_set()
        finally:
            await link.close(1)


async def test_close_is_a_handshake_and_the_server_closes_first() -> None:
    codes: list[int | None] = []

    async def wait(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async with server(wait) as url:
        link = await link_to(url)
        await link.close(5)
        assert link.closed and link.state is State.CLOSED
        with pytest.raises(ConnectionClosedOK):
            await link.send("late", text=True)
    assert codes == [1000]


async def test_a_peer_that_never_answers_the_close_is_aborted_after_the_limit() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # the close frame; no answer, no EOF

    async with raw_peer(deaf) as url:
        link = await link_to(url)
        await link.close(0.01)
        assert link.closed


async def test_a_cancelled_close_still_closes_the_socket() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)

    async with raw_peer(deaf) as url:
        link = await link_to(url)
        task = asyncio.ensure_future(link.close(None))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await link.wait_closed()


async def test_an_oversize_message_fails_the_connection_at_once() -> None:
    """The 1009 close frame goes out and the socket closes without waiting for a peer that
    keeps streaming; the error says what was too big."""

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(encode_frame(OP_TEXT, b"x" * 2000))
        await writer.drain()

    async with raw_peer(big) as url:
        link = await link_to(url, max_size=1000)
        with pytest.raises(ConnectionClosedError) as info:
            await link.recv()
        assert info.value.sent is not None and info.value.sent.code == 1009
        assert link.protocol.parser_exc is not None
        await link.wait_closed()


async def test_a_cancelled_recv_loses_nothing() -> None:
    go = asyncio.Event()

    async def later(ws: ServerConnection) -> None:
        await go.wait()
        await ws.send("one")
        await ws.wait_closed()

    async with server(later) as url:
        link = await link_to(url)
        try:
            task = asyncio.ensure_future(link.recv())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            go.set()
            assert await link.recv() == "one"
        finally:
            await link.close(1)


async def test_a_refused_handshake_raises_invalid_status_with_the_body() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\n\r\n" + b'{"m":"no no"}')
        await writer.drain()

    srv = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"
        with pytest.raises(InvalidStatus) as info:
            await link_to(url)
        assert info.value.response.status_code == 403
        assert info.value.response.body == b'{"m":"no no"}'
    finally:
        srv.close()
        await srv.wait_closed()


async def test_a_peer_that_hangs_up_during_the_handshake_is_an_invalid_message() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    srv = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        with pytest.raises(InvalidMessage):
            await link_to(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/")
    finally:
        srv.close()
        await srv.wait_closed()


async def test_a_silent_handshake_times_out_and_its_socket_is_closed() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # until the client goes away
        closed.set()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):  # distinct before 3.11
            await link_to(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/", limit=0.01)
        await closed.wait()
    finally:
        srv.close()
        await srv.wait_closed()


async def test_leave_sends_the_close_frame_and_closes_without_waiting() -> None:
    """A caller that is gone (the client left): the peer gets the close frame, the socket
    closes at once, even when the peer would never answer the close."""
    got: list[bytes] = []
    ended = asyncio.Event()

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.read())  # until EOF, with no answer from here
        ended.set()

    async with raw_peer(deaf) as url:
        link = await link_to(url)
        link.leave(30)  # the limit only bounds a peer that does not read
        await link.wait_closed()
        assert link.closed
        await ended.wait()
    assert got[0][:1] == b"\x88"  # FIN + close, then EOF


async def test_a_cancelled_request_leaves_its_connection_at_once() -> None:
    """DirectConnection: cancelled inside (the client went away), the connection is left
    (close frame, socket closed) without waiting out the close timeout for a deaf peer."""
    from asgi_spark.adapters.connector import DirectConnection, Timeouts

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    def refusal(status: int, body: bytes) -> Exception:
        raise AssertionError("not refused")

    async with raw_peer(deaf) as url:
        connection = DirectConnection(lambda: url, Timeouts(close=30), None, refusal)  # type: ignore[arg-type]
        entered = asyncio.Event()
        links: list[Link] = []

        async def request() -> None:
            async with connection as upstream:
                links.append(upstream.ws)
                entered.set()
                await upstream.ws.recv()  # nothing comes

        task = asyncio.ensure_future(request())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await links[0].wait_closed()
