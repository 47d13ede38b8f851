"""Per-model connection options end to end (in-process app, real simulator on loopback):
the ``timeouts`` slots raise their phase's error, and ``proxy`` is honoured (a local CONNECT
proxy records what it tunnels)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from asgi_spark import create_app
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate

HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


async def _post(entry: dict[str, Any], body: dict[str, Any] = HI) -> httpx.Response:
    gateway = create_app([entry])
    transport = httpx.ASGITransport(app=gateway)
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        return await client.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize(
    ("timeouts", "faults", "phase"),
    [
        ({"first_frame": 0.05}, Faults(first_frame_delay=5), "first_frame timeout"),
        ({"idle": 0.05}, Faults(frame_delay=5, chunks=3), "idle timeout"),
        ({"total": 0.1, "idle": 5}, Faults(frame_delay=0.04, chunks=50), "total timeout"),
        ({"connect": 0.05}, Faults(handshake_delay=5), "connect timeout"),
    ],
)
async def test_each_timeout_slot_raises_its_phase(
    sim: SparkSimulator, timeouts: dict[str, float], faults: Faults, phase: str
) -> None:
    sim.faults = faults
    r = await _post(spark_entry("m", sim.url, timeout=30, timeouts=timeouts))
    assert r.status_code == 504, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "upstream_timeout"
    assert phase in r.json()["error"]["message"]
    await asyncio.wait_for(sim.wait_closed_all(), 5)


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records the targets it tunnels to."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            writer.close()
            return
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_proxy_url_is_used(sim: SparkSimulator) -> None:
    async with ConnectProxy() as proxy:
        r = await _post(spark_entry("m", sim.url, proxy=proxy.url))
    assert r.status_code == 200, r.text
    assert proxy.targets == [sim.url.removeprefix("ws://")]


async def test_auto_follows_the_environment(
    sim: SparkSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy:
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url)
        r = await _post(spark_entry("m", sim.url))  # proxy defaults to "auto"
    assert r.status_code == 200, r.text
    assert proxy.targets == [sim.url.removeprefix("ws://")]


async def test_null_ignores_the_environment(
    sim: SparkSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        r = await _post(spark_entry("m", sim.url, proxy=None))
    assert r.status_code == 200, r.text
    assert proxy.targets == []
