"""The gateway app in-process (httpx's ASGI transport): what needs no simulator."""

from __future__ import annotations

import json
import logging
import re
import socket
from pathlib import Path

import httpx
import pytest

from asgi_spark import create_app
from asgi_spark.gateway import CONFIG_ENV, app_from_environment
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


async def test_readyz_is_200_while_running_and_503_once_closed() -> None:
    gateway = create_app([entry("ws://127.0.0.1:1")])
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        r = await client.get("/readyz")  # a mounted gateway starts on first use
        limits = {"backend": "memory", "available": True}
        assert (r.status_code, r.json()) == (
            200,
            {"status": "ready", "models": 1, "limits": limits},
        )
        await gateway.aclose()
        r = await client.get("/readyz")
    assert r.status_code == 503
    validate("ErrorResponse", r.json())
    assert r.json()["error"] == {
        "message": "the gateway is closed",
        "type": "service_unavailable",
        "param": None,
        "code": "gateway_closed",
    }


async def test_a_gateway_that_cannot_start_is_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "models.json"
    config.write_text(json.dumps([{**entry("ws://127.0.0.1:1"), "api_key": "ENV:T_NOT_SET"}]))
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.delenv("T_NOT_SET", raising=False)
    gateway = app_from_environment()  # loads at start-up
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for path in ("/readyz", "/v1/models"):
            r = await client.get(path)
            assert r.status_code == 503
            validate("ErrorResponse", r.json())
            assert r.json()["error"] == {
                "message": f"the gateway could not start: {config}: model 'spark-max', field "
                "'api_key': environment variable 'T_NOT_SET' is not set",
                "type": "service_unavailable",
                "param": None,
                "code": "gateway_not_ready",
            }
    assert gateway.state.value == "idle"
    errors = [r for r in caplog.records if r.name == "asgi_spark"]
    assert [(r.levelno, r.getMessage().split(": ", 1)[0]) for r in errors] == [
        (logging.ERROR, "GET /readyz"),
        (logging.ERROR, "GET /v1/models"),
    ]
    assert all(r.exc_info is None for r in errors)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            b'{"model": "spark-max", "messages": [{"role": "user", "content": "x"}], '
            b'"metadata": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,
            "status=400 stream=false duration_ms=* attempts=0 error=invalid_request_error "
            'message="the request body is not valid JSON: it is nested too deeply"',
        ),
        (
            b'{"model": "spark-max", "messages": [{"role": 1, "content": "x"}]}',
            "status=400 stream=false duration_ms=* attempts=0 error=invalid_request_error "
            'param=messages[0].role message="invalid request body: Expected `str`, got `int` '
            "(at 'messages[0].role')\"",
        ),
        (
            b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
            "model=nope status=404 stream=false duration_ms=* attempts=0 error=model_not_found "
            "param=model message=\"The model 'nope' does not exist on this gateway (available: "
            'spark-max)"',
        ),
    ],
    ids=["nested-too-deeply", "bad-role", "unknown-model"],
)
async def test_a_refused_request_is_logged_as_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture, body: bytes, line: str
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = create_app([entry("ws://127.0.0.1:1")])
    transport = httpx.ASGITransport(app=gateway)
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        r = await client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert r.status_code in (400, 404)
    # one line, the access log's (every chat request ends in one), and no traceback anywhere
    (record,) = [rec for rec in caplog.records if rec.name.startswith("asgi_spark")]
    assert (record.name, record.levelno) == ("asgi_spark.access", logging.INFO)
    assert (record.exc_info, record.stack_info) == (None, None)
    message = re.sub(r"duration_ms=[0-9.]+", "duration_ms=*", record.getMessage())
    assert message.split(" endpoint=chat.completions ", 1)[1] == line
