"""The connector's limits over real loopback sockets (asgi_spark/adapters/connector.py): a
message over ``MAX_FRAME_BYTES`` is a prompt 502 naming its size and the limit, also when the
peer keeps streaming and never answers the gateway's close frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from asgi_spark import create_app
from asgi_spark.adapters.connector import MAX_FRAME_BYTES
from tests.openapi import validate
from tests.wire.capture import OP_CONTINUATION, OP_TEXT, accept_handshake, encode_frame

#: Every other limit is long: only a prompt report passes within the test's deadline.
SLOW = {"timeout": 30, "timeouts": {"close": 30}}
BIG = MAX_FRAME_BYTES + 1000


def frame(content: str, *, seq: int = 0, status: int = 1) -> bytes:
    item = {"content": content, "role": "assistant", "index": 0}
    return json.dumps(
        {
            "header": {"code": 0, "message": "Success", "sid": "cht00big", "status": status},
            "payload": {"choices": {"status": status, "seq": seq, "text": [item]}},
        }
    ).encode()


def entry(url: str) -> dict[str, Any]:
    return {
        "id": "m",
        "adapter": "websocket_xunfei",
        "base_url": url,
        "api_key": "api-key-0123456789",
        "config": {"app_id": "app-id-0123", "api_secret": "api-secret-0123456789"},
        **SLOW,
    }


async def ask(url: str, *, stream: bool = False) -> httpx.Response:
    gateway = create_app([entry(url)])
    transport = httpx.ASGITransport(app=gateway)
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        return await asyncio.wait_for(client.post("/v1/chat/completions", json=body), 5)


@asynccontextmanager
async def deaf_peer(*frames: bytes) -> AsyncIterator[str]:
    """A WebSocket peer that writes ``frames`` once the request arrives and then neither reads
    nor closes (a server still busy streaming): only the gateway can end the connection."""
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_handshake(reader, writer)
        await reader.read(65536)  # the request frame (or its start): answer after it
        for data in frames:
            writer.write(data)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


def too_big_message(size: int) -> str:
    return (
        f"upstream sent a message of {size} bytes, over the gateway's limit of {MAX_FRAME_BYTES} "
        "bytes (4 MiB, MAX_FRAME_BYTES); the connection was closed with 1009 (message too big)"
    )


async def test_an_oversize_frame_is_a_prompt_502_naming_size_and_limit() -> None:
    data = frame("x" * BIG)
    async with deaf_peer(encode_frame(OP_TEXT, data)) as url:
        r = await ask(url)
    assert r.status_code == 502, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"] == {
        "message": too_big_message(len(data)),
        "type": "upstream_error",
        "param": None,
        "code": "upstream_protocol_error",
    }


async def test_an_oversize_message_in_fragments_counts_them_all() -> None:
    data = frame("x" * BIG)
    half = len(data) // 2
    fragments = (
        encode_frame(OP_TEXT, data[:half], fin=False),
        encode_frame(OP_CONTINUATION, data[half:]),
    )
    async with deaf_peer(*fragments) as url:
        r = await ask(url)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["message"] == too_big_message(len(data))


async def test_an_oversize_frame_after_the_stream_started_is_an_error_event() -> None:
    async with deaf_peer(
        encode_frame(OP_TEXT, frame("Hel")), encode_frame(OP_TEXT, frame("x" * BIG, seq=1))
    ) as url:
        r = await ask(url, stream=True)
    assert r.status_code == 200, r.text
    events = [line[len("data: ") :] for line in r.text.split("\n\n") if line]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_protocol_error"
    assert error["message"].startswith("upstream sent a message of ")
    assert f"limit of {MAX_FRAME_BYTES} bytes" in error["message"]


async def test_an_oversize_frame_from_a_polite_peer_is_the_same_502() -> None:
    async def big(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(frame("x" * BIG).decode())
        await ws.wait_closed()

    async with serve(big, "127.0.0.1", 0, max_size=None) as server:
        r = await ask(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    assert r.status_code == 502, r.text
    assert r.json()["error"]["message"] == too_big_message(len(frame("x" * BIG)))


async def test_upstream_closing_with_1009_itself_is_not_the_gateways_limit() -> None:
    """Upstream refusing the gateway's frame as too big is upstream's close, reported as such."""

    async def refuse(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(1009, "message too big")

    async with serve(refuse, "127.0.0.1", 0) as server:
        r = await ask(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "upstream_closed"
    assert "close code 1009, reason 'message too big'" in r.json()["error"]["message"]


@pytest.mark.parametrize("size", [MAX_FRAME_BYTES - 4096])
async def test_a_frame_within_the_limit_is_read(size: int) -> None:
    async def large(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(frame("y" * size, status=2).decode())
        await ws.wait_closed()

    async with serve(large, "127.0.0.1", 0, max_size=None) as server:
        r = await ask(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    assert r.status_code == 200, r.text[:200]
    assert len(r.json()["choices"][0]["message"]["content"]) == size
