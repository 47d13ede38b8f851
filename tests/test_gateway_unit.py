"""The gateway app in-process (httpx's ASGI transport): what needs no simulator."""

from __future__ import annotations

import socket

import httpx
import pytest

from asgi_spark import create_app
from tests.openapi import validate


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def entry(base_url: str) -> dict[str, object]:
    return {
        "id": "spark-max",
        "adapter": "websocket_xunfei",
        "base_url": base_url,
        "api_key": "k",
        "config": {"app_id": "a", "api_secret": "s"},
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_unreachable_upstream_is_503(stream: bool) -> None:
    gateway = create_app([entry(f"ws://127.0.0.1:{closed_port()}")])
    transport = httpx.ASGITransport(app=gateway)
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        r = await client.post(
            "/v1/chat/completions",
            json={
                "model": "spark-max",
                "stream": stream,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert r.status_code == 503
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "upstream_unavailable"
    assert "cannot reach upstream" in r.json()["error"]["message"]


async def test_after_aclose_every_request_is_a_503_not_a_silent_restart() -> None:
    gateway = create_app([entry("ws://127.0.0.1:1")])
    await gateway.startup()
    await gateway.aclose()
    await gateway.aclose()  # idempotent
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for method, path in [
            ("GET", "/v1/models"),
            ("GET", "/healthz"),
            ("POST", "/v1/chat/completions"),
        ]:
            body = {"model": "spark-max", "messages": [{"role": "user", "content": "hi"}]}
            r = await client.request(method, path, json=body if method == "POST" else None)
            assert r.status_code == 503, (path, r.text)
            validate("ErrorResponse", r.json())
            assert r.json()["error"]["code"] == "gateway_closed"
    assert gateway.runtime is None
    assert gateway.state.value == "closed"


async def test_aclose_before_start_also_closes_for_good() -> None:
    gateway = create_app([entry("ws://127.0.0.1:1")])
    await gateway.aclose()
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        r = await client.get("/v1/models")
    assert r.status_code == 503


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_that_closes_right_after_accepting_is_502(stream: bool) -> None:
    """The close can reach the gateway while it still sends the request frame: still a 502."""
    from websockets.asyncio.server import ServerConnection, serve

    async def close_at_once(ws: ServerConnection) -> None:
        await ws.close(1011, "going away")

    async with serve(close_at_once, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        gateway = create_app([entry(f"ws://127.0.0.1:{port}")])
        transport = httpx.ASGITransport(app=gateway)
        async with (
            gateway.lifespan(),
            httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
        ):
            r = await client.post(
                "/v1/chat/completions",
                json={
                    "model": "spark-max",
                    "stream": stream,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
    assert r.status_code == 502, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "upstream_closed"
