"""The capture server itself: it must see what is really on the wire, or the wire tests prove
nothing.  Raw clients send hand-made bytes; a ``websockets`` client checks the server's side."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from .capture import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    SPARK_CLOSE_REASON,
    CaptureServer,
    Frame,
    accept_key,
    close_payload,
    spark_answer,
)

REQUEST = json.dumps({"header": {"app_id": "a"}, "parameter": {}, "payload": {}})


@pytest.fixture
async def capture() -> AsyncIterator[CaptureServer]:
    async with CaptureServer(timeout=2) as server:
        yield server
        assert server.pending == 0


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bool = True,
    length_form: int | None = None,
) -> bytes:
    """A client frame built by hand; ``length_form`` 16 or 64 forces a longer length field."""
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 1 << 16 else 64)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    if form == 7:
        head += bytes([mask_bit | n])
    elif form == 16:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A WebSocket client written out by hand over a loopback TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, capture: CaptureServer, head: bytes | None = None) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", capture.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            head
            or (
                f"GET /any/where?a=1&b=x+y%2C HTTP/1.1\r\nhost: 127.0.0.1:{capture.port}\r\n"
                f"Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-Custom:  v \r\n\r\n"
            ).encode()
        )
        client = cls(reader, writer)
        if head is None:
            response = await reader.readuntil(b"\r\n\r\n")
            assert response.startswith(b"HTTP/1.1 101 ")
            assert f"Sec-WebSocket-Accept: {accept_key(key)}\r\n".encode() in response
            assert b"Sec-WebSocket-Extensions" not in response
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def frame(self) -> tuple[int, bytes]:
        """One server frame: (opcode, payload).  Server frames are never masked."""
        b0, b1 = await self.reader.readexactly(2)
        assert not b1 & 0x80, "a server frame must not be masked"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def until_close(self) -> list[tuple[int, bytes]]:
        frames = []
        while True:
            frame = await self.frame()
            frames.append(frame)
            if frame[0] == OP_CLOSE:
                return frames

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def test_accept_key_is_the_rfc_6455_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_the_scripted_answer_has_a_first_and_a_final_frame_with_usage() -> None:
    first, final = (json.loads(frame) for frame in spark_answer(["a", "b"]))
    assert first["header"]["status"] == first["payload"]["choices"]["status"] == 0
    assert final["header"]["status"] == final["payload"]["choices"]["status"] == 2
    assert "usage" not in first["payload"]
    usage = final["payload"]["usage"]["text"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_handshake_is_recorded_raw_and_any_path_is_accepted(capture: CaptureServer) -> None:
    client = await RawClient.open(capture)
    client.send(client_frame(OP_CLOSE, close_payload(1000)))
    await client.until_close()
    await client.close()
    conn = await capture.completed()
    assert conn.request_line == "GET /any/where?a=1&b=x+y%2C HTTP/1.1"
    assert (conn.path, conn.query, conn.query_keys) == ("/any/where", "a=1&b=x+y%2C", ["a", "b"])
    assert conn.query_params() == {"a": "1", "b": "x y,"}
    assert conn.header_names[:2] == ["host", "Upgrade"]  # names as written, in order
    assert conn.header("HOST") == f"127.0.0.1:{capture.port}"
    assert conn.header("x-custom") == "v"
    assert conn.frames == [
        Frame(True, (False,) * 3, OP_CLOSE, True, 7, conn.frames[0].mask_key, b"\x03\xe8")
    ]
    assert (conn.close_code, conn.close_reason, conn.client_closed_first) == (1000, "", True)
    assert conn.violations == []


async def test_frame_bits_and_length_forms_are_seen_as_sent(capture: CaptureServer) -> None:
    client = await RawClient.open(capture)
    client.send(client_frame(OP_PING, b"hi"))
    assert await client.frame() == (OP_PONG, b"hi")
    big = b"x" * 300
    client.send(client_frame(OP_BINARY, big, rsv1=True, mask=False))
    answer = await client.until_close()
    assert json.loads(answer[0][1])["header"]["code"] == 10001
    assert answer[-1] == (OP_CLOSE, close_payload(1000, SPARK_CLOSE_REASON))
    client.send(client_frame(OP_CLOSE, close_payload(1001, "bye"), length_form=64))
    await client.close()
    conn = await capture.completed()
    ping, binary, close = conn.frames
    assert (ping.opcode, ping.masked, ping.payload) == (OP_PING, True, b"hi")
    assert (binary.opcode, binary.rsv, binary.masked) == (OP_BINARY, (True, False, False), False)
    assert (binary.length_form, binary.payload) == (16, big)
    assert (close.length_form, conn.close_code, conn.close_reason) == (64, 1001, "bye")
    assert not conn.client_closed_first
    assert conn.violations == [
        "RSV bits (True, False, False) set without a negotiated extension",
        "an unmasked client frame (opcode 0x2)",
        "64-bit length form for a 5-byte payload",
    ]


async def test_a_fragmented_text_request_is_reassembled_and_answered(
    capture: CaptureServer,
) -> None:
    client = await RawClient.open(capture)
    data = REQUEST.encode()
    client.send(client_frame(OP_TEXT, data[:10], fin=False))
    client.send(client_frame(OP_CONTINUATION, data[10:]))
    frames = await client.until_close()
    assert [json.loads(payload)["header"]["status"] for _, payload in frames[:-1]] == [0, 2]
    client.send(client_frame(OP_CLOSE, frames[-1][1]))
    await client.close()
    conn = await capture.completed()
    assert conn.opcodes == [OP_TEXT, OP_CONTINUATION, OP_CLOSE]
    assert conn.messages == [(OP_TEXT, data)]
    assert conn.answered and conn.violations == []


async def test_a_request_that_is_not_an_upgrade_gets_400(capture: CaptureServer) -> None:
    client = await RawClient.open(capture, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.reader.read()).startswith(b"HTTP/1.1 400 ")
    await client.close()
    conn = await capture.completed()
    assert not conn.handshake_accepted
    assert conn.violations == ["no 'Upgrade: websocket' header"]


async def test_a_client_that_never_closes_is_a_violation() -> None:
    async with CaptureServer(timeout=0.2) as capture:
        client = await RawClient.open(capture)
        client.send(client_frame(OP_TEXT, REQUEST.encode()))
        await client.until_close()
        conn = await capture.completed()
        assert conn.violations == ["the client was silent for 0.2 s"]
        assert await client.reader.read() == b""  # the server closed TCP
        await client.close()


async def test_a_websockets_client_gets_text_frames_and_spark_close(
    capture: CaptureServer,
) -> None:
    async with connect(capture.url + "/v3.5/chat", compression=None) as ws:
        await ws.send(REQUEST)
        received = [await ws.recv(), await ws.recv()]
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == 1000 and ws.close_reason == SPARK_CLOSE_REASON
    assert all(isinstance(frame, str) for frame in received)
    conn = await capture.completed()
    assert conn.opcodes == [OP_TEXT, OP_CLOSE]
    assert conn.messages == [(OP_TEXT, REQUEST.encode())]
    assert (conn.close_code, conn.close_reason) == (1000, SPARK_CLOSE_REASON)  # echoed
    assert conn.violations == []
