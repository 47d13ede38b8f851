"""Wire fixtures: a raw capture server, and the gateway served by uvicorn pointing at it.

Everything of one test module runs on that module's event loop (``loop_scope="module"``):
the capture server, uvicorn serving the gateway, and the ``openai`` client.  The gateway has
one model per row of the Spark version table, ``wire-<version>``, each with the capture
server as ``base_url``.  The listening socket is bound before uvicorn starts, so requests can
be sent at once; nothing waits on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import pytest_asyncio
import uvicorn

from asgi_spark import create_app
from asgi_spark.adapters.spark.versions import versions
from tests.e2e.server import listening_socket, spark_entry

from .capture import CaptureServer


def model_id(version: str) -> str:
    return f"wire-{version}"


def wire_config(capture_url: str) -> list[dict[str, Any]]:
    """One gateway model per version of the table, all upstream at the capture server."""
    return [
        spark_entry(model_id(row.name), capture_url, timeout=5, config={"api_version": row.name})
        for row in versions()
    ]


@contextlib.asynccontextmanager
async def served_app(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a loopback port of this loop; yields the base URL."""
    sock = listening_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def capture() -> AsyncIterator[CaptureServer]:
    async with CaptureServer(timeout=5) as server:
        yield server
        # No connection leaked: every one the gateway opened was closed.
        assert all(conn.done.is_set() for conn in server.connections)


@pytest.fixture
def upstream(capture: CaptureServer) -> CaptureServer:
    """The module's capture server, with connections left by an earlier test forgotten."""
    capture.skip()
    return capture


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway_url(capture: CaptureServer) -> AsyncIterator[str]:
    async with served_app(create_app(wire_config(capture.url))) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aclient(gateway_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=gateway_url + "/v1", api_key="unused", max_retries=0, timeout=10
    ) as client:
        yield client
