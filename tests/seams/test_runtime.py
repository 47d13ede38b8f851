"""The runtime snapshot: reload swaps it atomically, in-flight requests finish on the old one,
aclose is final.  Requests go straight into the ASGI app (no sockets); a gate holds an answer
open so that a request is provably in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from asgi_spark import create_app, register_adapter
from asgi_spark.config import ConfigError
from asgi_spark.errors import GatewayClosedError
from asgi_spark.events import ContentDelta, Finish, Started, Usage
from asgi_spark.registry import unregister_adapter

from .fakes import Response, ScriptedAdapter, chat, entry, request


class Gated(ScriptedAdapter):
    name = "gated"
    gate = asyncio.Event()
    script = (
        [Started("sid-old"), ContentDelta("first ")],
        None,  # wait for the gate
        [ContentDelta("second"), Finish("stop"), Usage(1, 2, 3)],
    )


@pytest.fixture
def gated() -> Iterator[type[Gated]]:
    Gated.gate = asyncio.Event()
    ScriptedAdapter.closed = []
    register_adapter("gated", Gated)
    register_adapter("scripted", ScriptedAdapter)
    yield Gated
    unregister_adapter("gated")
    unregister_adapter("scripted")


async def test_reload_lets_the_request_in_flight_finish_on_the_old_runtime(
    gated: type[Gated],
) -> None:
    gateway = create_app([entry("old", adapter="gated")])
    await gateway.startup()
    old = gateway.runtime
    assert old is not None

    in_flight, response = _start(gateway, chat("old", stream=True))
    await asyncio.wait_for(response.first_body.wait(), 5)
    assert old.in_flight == 1

    await gateway.reload([entry("new", adapter="scripted")])
    assert gateway.runtime is not old
    assert not old.closed  # still answering the request in flight
    models = await request(gateway, "GET", "/v1/models")
    assert [m["id"] for m in models.json()["data"]] == ["new"]
    refused = await request(gateway, "POST", "/v1/chat/completions", chat("old"))
    assert refused.status == 404
    fresh = await request(gateway, "POST", "/v1/chat/completions", chat("new"))
    assert fresh.json()["choices"][0]["message"]["content"] == "Hello"

    gated.gate.set()
    done = await asyncio.wait_for(in_flight, 5)
    assert done is response and done.complete
    assert b"second" in done.body and done.body.endswith(b"data: [DONE]\n\n")
    assert old.closed and ScriptedAdapter.closed == ["old"]
    await gateway.aclose()
    assert ScriptedAdapter.closed == ["old", "new"]


async def test_an_invalid_reload_is_refused_and_the_old_runtime_stays(gated: type[Gated]) -> None:
    gateway = create_app([entry("new", adapter="scripted")])
    await gateway.startup()
    runtime = gateway.runtime
    with pytest.raises(ConfigError, match="unknown adapter 'nope'"):
        await gateway.reload([entry("x", adapter="nope")])
    assert gateway.runtime is runtime and not runtime.closed  # type: ignore[union-attr]
    ok = await request(gateway, "POST", "/v1/chat/completions", chat("new"))
    assert ok.status == 200
    await gateway.aclose()


async def test_aclose_during_a_request_closes_the_runtime_and_refuses_new_requests(
    gated: type[Gated],
) -> None:
    gateway = create_app([entry("old", adapter="gated")])
    in_flight, response = _start(gateway, chat("old", stream=True))
    await asyncio.wait_for(response.first_body.wait(), 5)
    await gateway.aclose()
    refused = await request(gateway, "POST", "/v1/chat/completions", chat("old"))
    assert refused.status == 503 and refused.json()["error"]["code"] == "gateway_closed"
    gated.gate.set()
    await asyncio.wait_for(in_flight, 5)
    with pytest.raises(GatewayClosedError):
        await gateway.reload([entry("new", adapter="scripted")])


async def test_concurrent_requests_all_land_on_one_runtime_each(gated: type[Gated]) -> None:
    gated.gate.set()
    gateway = create_app([entry("old", adapter="gated")])
    await gateway.startup()
    first = gateway.runtime
    tasks = [
        asyncio.ensure_future(request(gateway, "POST", "/v1/chat/completions", chat("old")))
        for _ in range(20)
    ]
    await gateway.reload([entry("old", adapter="gated")])
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert all(r.status == 200 for r in results)
    assert first is not None and first.closed
    await gateway.aclose()


def _start(gateway: object, body: dict[str, object]) -> tuple[asyncio.Future[Response], Response]:
    response = Response()
    task = asyncio.ensure_future(
        request(gateway, "POST", "/v1/chat/completions", body, response=response)
    )
    return task, response
