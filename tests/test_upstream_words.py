"""Words from upstream reach the client redacted: a refused handshake's body, a close reason, an
error frame's message.  Real loopback sockets: a raw HTTP server that refuses the handshake and
quotes the request target back (as a proxy's error page does), and small WebSocket servers."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from asgi_spark import create_app
from asgi_spark.adapters.base import Exchange, WebSocketAdapter
from asgi_spark.config import ModelEntry
from asgi_spark.events import Event
from asgi_spark.openai_types import ChatCompletionRequest
from asgi_spark.secrets import MASK, Secret
from tests.openapi import validate

APP_ID = "app-id-7f3a9c"
API_KEY = "api-key-0123456789abcdef"
API_SECRET = "api-secret-ZYXWVUTSRQPONM"
HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def entry(url: str) -> dict[str, Any]:
    return {
        "id": "m",
        "adapter": "websocket_xunfei",
        "base_url": url,
        "api_key": API_KEY,
        "config": {"app_id": APP_ID, "api_secret": API_SECRET},
    }


async def ask(url: str) -> httpx.Response:
    gateway = create_app([entry(url)])
    transport = httpx.ASGITransport(app=gateway)
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        return await client.post("/v1/chat/completions", json=HI)


def credentials(target: str) -> list[str]:
    """Everything of a signed request target that must not be shown, in every encoding."""
    query = parse_qs(urlsplit(target).query)
    authorization, date = query["authorization"][0], query["date"][0]
    raw = [authorization, date, API_KEY, API_SECRET, APP_ID, base64.b64decode(authorization)]
    values = [v.decode() if isinstance(v, bytes) else v for v in raw]
    signature = values[-1].rsplit('signature="', 1)[1].rstrip('"')
    shown = [*values, signature]
    return [*shown, *(quote(v, safe="") for v in shown), *(quote(v) for v in shown)]


@asynccontextmanager
async def refusing(answer: Callable[[str], tuple[int, bytes]]) -> AsyncIterator[list[str]]:
    """An HTTP server that refuses every WebSocket handshake with ``answer(target)``."""
    targets: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        targets.append(target)
        status, body = answer(target)
        writer.write(
            f"HTTP/1.1 {status} Refused\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        targets.append(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        yield targets


BODIES: dict[str, Callable[[str], tuple[int, bytes]]] = {
    "json-message": lambda t: (
        403,
        json.dumps({"message": f"Forbidden: GET {t} HTTP/1.1"}).encode(),
    ),
    "proxy-html": lambda t: (
        502,
        f"<html><h1>502 Bad Gateway</h1><p>upstream for {t} failed</p></html>".encode(),
    ),
    "percent-encoded": lambda t: (400, f"bad request: target={quote(t, safe='')}".encode()),
    "decoded-authorization": lambda t: (
        401,
        json.dumps(
            {
                "message": "HMAC signature cannot be verified: "
                + base64.b64decode(parse_qs(urlsplit(t).query)["authorization"][0]).decode()
            }
        ).encode(),
    ),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_a_refusal_quoting_the_signed_target_is_redacted(kind: str) -> None:
    async with refusing(BODIES[kind]) as seen:
        r = await ask(seen[0])
    target = seen[1]
    assert "authorization=" in target  # the gateway did send a signed URL
    validate("ErrorResponse", r.json())
    message = r.json()["error"]["message"]
    for value in credentials(target):
        assert value not in r.text, (kind, value)
    assert MASK in message
    assert r.status_code in (502, 503), r.text


async def test_the_refusal_keeps_the_rest_of_upstream_words() -> None:
    async with refusing(BODIES["json-message"]) as seen:
        r = await ask(seen[0])
    assert r.status_code == 502
    assert r.json()["error"] == {
        "message": "the gateway's Spark credentials were rejected: forbidden (HTTP 403: "
        f"Forbidden: GET /v3.5/chat?authorization={MASK}&date={MASK}&host={MASK} HTTP/1.1)",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_auth_failed",
    }


async def test_a_close_reason_quoting_the_signed_target_is_redacted() -> None:
    targets: list[str] = []

    async def close_quoting(ws: ServerConnection) -> None:
        assert ws.request is not None
        targets.append(ws.request.path)
        await ws.recv()
        # A close reason holds at most 123 bytes: the start of the query.
        await ws.close(1008, ws.request.path.split("?", 1)[1][:100])

    async with serve(close_quoting, "127.0.0.1", 0) as server:
        r = await ask(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    assert r.status_code == 502, r.text
    message = r.json()["error"]["message"]
    assert message == (
        "Spark closed the connection before answering without a final frame: close code 1008, "
        f"reason 'authorization={MASK}'; the answer is incomplete"
    )
    authorization = parse_qs(urlsplit(targets[0]).query)["authorization"][0]
    assert quote(authorization, safe="")[:20] not in r.text


async def test_an_error_frame_quoting_the_url_and_the_app_id_is_redacted() -> None:
    async def error_frame(ws: ServerConnection) -> None:
        assert ws.request is not None
        await ws.recv()
        words = f"AppIdNoAuthError: app {APP_ID} may not call {ws.request.path}"
        frame = {"header": {"code": 11200, "message": words, "sid": "cht01", "status": 2}}
        await ws.send(json.dumps(frame))
        await ws.close()

    async with serve(error_frame, "127.0.0.1", 0) as server:
        r = await ask(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    assert r.status_code == 502, r.text
    message = r.json()["error"]["message"]
    assert message.endswith(
        f"AppIdNoAuthError: app {MASK} may not call "
        f"/v3.5/chat?authorization={MASK}&date={MASK}&host={MASK}"
    )
    assert APP_ID not in r.text and API_KEY not in r.text


class PlainAdapter(WebSocketAdapter[None]):
    """An adapter with no credentials of its own but the entry's ``api_key``."""

    name = "plain_ws"

    def build_url(self) -> str:
        return f"{self.entry.base_url}/chat?token={self.entry.api_key.reveal()}"

    def convert_request(self, request: ChatCompletionRequest) -> Exchange[None]:
        return Exchange(frames=["hi"], state=None)

    def parse_frame(self, data: str | bytes, state: None) -> list[Event]:
        return []

    def is_complete(self, state: None) -> bool:
        return False


def plain() -> PlainAdapter:
    return PlainAdapter(
        ModelEntry(id="p", adapter="plain_ws", base_url="ws://h", api_key=Secret(API_KEY))
    )


def test_every_adapter_redacts_its_api_key_from_a_refusal() -> None:
    body = json.dumps({"message": f"no such token {API_KEY} for /chat?date=x&host=y"}).encode()
    error = plain().handshake_error(401, body)
    assert error.message == (
        "upstream refused the gateway's credentials "
        f"(HTTP 401: no such token {MASK} for /chat?date={MASK}&host={MASK})"
    )


def test_every_adapter_redacts_a_close_reason() -> None:
    (event,) = plain().on_close(None, 1008, f"bad token {API_KEY}&authorization=abc")
    assert API_KEY not in str(event) and "abc" not in str(event)
    assert f"bad token {MASK}&authorization={MASK}" in event.error.message  # type: ignore[attr-defined]
