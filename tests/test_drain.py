"""``Gateway.drain()`` in-process (asgi_spark/drain.py): a gateway and the simulator served by
uvicorn on loopback, the drain started in the server's loop, clients on real sockets."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from asgi_spark import create_app
from asgi_spark.drain import DrainPhase
from asgi_spark.drain_signals import SignalDrain, uvicorn_server
from asgi_spark.gateway import Gateway
from asgi_spark.readiness import NotReady
from asgi_spark.testing import directive
from tests.e2e.server import ServedGateway, spark_entry

#: A stream that ends on its own within a second.
QUICK = directive(chunks=3, frame_delay=0.1)
#: A stream that would take a minute.
ENDLESS = directive(chunks=300, frame_delay=0.2)
DRAINING = {
    "code": "draining",
    "message": "the gateway is shutting down (drain() was called)",
}


@pytest.fixture
def served() -> Iterator[ServedGateway]:
    server = ServedGateway(lambda url: create_app([spark_entry("spark-max", url)])).start()
    yield server
    server.stop()


def gateway_of(server: ServedGateway) -> Gateway:
    gateway: Gateway = server.app
    return gateway


def begin_drain(server: ServedGateway, **kwargs: Any) -> asyncio.Future[None]:
    """Start ``drain(**kwargs)`` in the server's loop; return once its first phase is set."""

    async def begin() -> asyncio.Future[None]:
        task = asyncio.ensure_future(gateway_of(server).drain(**kwargs))
        await asyncio.sleep(0)  # the task runs up to its first wait: DRAINING is set
        return task

    return server.call(begin)


def finish(server: ServedGateway, task: asyncio.Future[None], timeout: float = 15) -> None:
    async def wait() -> None:
        await task

    server.call(wait, timeout=timeout)


def client(server: ServedGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0)


def stream(sdk: openai.OpenAI, prompt: str) -> Any:
    chunks = sdk.chat.completions.create(
        model="spark-max", messages=[{"role": "user", "content": prompt}], stream=True
    )
    iterator = iter(chunks)
    next(iterator)  # the stream is open: its first chunk has arrived
    return iterator


def test_readyz_says_why_at_once_healthz_stays_and_requests_are_served_during_the_delay(
    served: ServedGateway,
) -> None:
    limits = {"backend": "memory", "available": True}
    ready = httpx.get(served.base_url + "/readyz")
    assert ready.json() == {"status": "ready", "models": 1, "limits": limits}
    task = begin_drain(served, delay=30, timeout=5)
    ready = httpx.get(served.base_url + "/readyz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "models": 1,
        "limits": limits,
        "reasons": [DRAINING],
    }
    assert httpx.get(served.base_url + "/healthz").status_code == 200
    with client(served) as sdk:  # the delay: still served
        answer = sdk.chat.completions.create(
            model="spark-max", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].finish_reason == "stop"
        gateway_of(served).hurry()  # the rest of the delay is skipped
        finish(served, task)
        with pytest.raises(openai.APIStatusError) as refused:
            sdk.chat.completions.create(
                model="spark-max", messages=[{"role": "user", "content": "hi"}]
            )
    assert refused.value.status_code == 503
    assert refused.value.code == "gateway_draining"
    assert "takes no new requests" in refused.value.message
    assert httpx.get(served.base_url + "/readyz").status_code == 503
    assert httpx.get(served.base_url + "/healthz").status_code == 200


def test_streams_that_end_in_time_finish_the_rest_get_an_error_event(
    served: ServedGateway,
) -> None:
    with client(served) as sdk:
        quick, endless = stream(sdk, "hi " + QUICK), stream(sdk, "hi " + ENDLESS)
        assert served.simulator is not None and served.simulator.open_connections == 2
        task = begin_drain(served, delay=0, timeout=1)
        assert list(quick)[-1].choices[0].finish_reason == "stop"
        with pytest.raises(openai.APIError) as ended:
            list(endless)
    assert ended.value.code == "gateway_draining"
    assert ended.value.type == "service_unavailable"
    assert "end of the drain timeout (1 s)" in ended.value.message
    finish(served, task)
    served.wait_upstream_closed(timeout=5)
    assert gateway_of(served).runtime is not None  # drained, not closed: aclose() does that


def test_an_ended_stream_is_an_sse_error_event_without_done_and_a_complete_response(
    served: ServedGateway,
) -> None:
    body = {
        "model": "spark-max",
        "stream": True,
        "messages": [{"role": "user", "content": "hi " + ENDLESS}],
    }
    with httpx.stream("POST", served.base_url + "/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: {")  # committed: 200 and a first chunk
        task = begin_drain(served, delay=0, timeout=0)
        rest = [line for line in lines if line]
    assert response.status_code == 200
    assert rest[-1].startswith('data: {"error":{"message":"the gateway is shutting down')
    assert '"code":"gateway_draining"' in rest[-1]
    assert "data: [DONE]" not in rest
    finish(served, task)


def test_an_answer_not_yet_sent_is_a_clean_503_and_its_upstream_socket_is_closed() -> None:
    """The upstream here is a plain socket that accepts and never answers the handshake: the
    test sees the gateway's connection arrive (``accept``), so the request is in flight."""
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        stuck = f"ws://127.0.0.1:{upstream.getsockname()[1]}"
        server = ServedGateway(lambda url: create_app([spark_entry("stuck", stuck)])).start()
        try:
            result: dict[str, Any] = {}

            def ask() -> None:
                result["response"] = httpx.post(
                    server.base_url + "/v1/chat/completions",
                    json={"model": "stuck", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=20,
                )

            thread = threading.Thread(target=ask)
            thread.start()
            upstream.settimeout(10)
            connection, _ = upstream.accept()  # the gateway is waiting for the handshake now
            with connection:
                task = begin_drain(server, delay=0, timeout=0.2)
                thread.join(timeout=10)
                connection.settimeout(10)
                while connection.recv(65536):  # the handshake request, then the gateway's close
                    pass
            finish(server, task)
        finally:
            server.stop()
    response = result["response"]
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "gateway_draining"
    assert "end of the drain timeout (0.2 s)" in response.json()["error"]["message"]


def test_a_second_drain_waits_for_the_first(served: ServedGateway) -> None:
    first = begin_drain(served, delay=30, timeout=0)
    second = begin_drain(served, delay=0, timeout=0)
    assert not second.done()
    gateway_of(served).hurry()
    finish(served, second)
    assert first.done()
    assert gateway_of(served)._drain.phase is DrainPhase.ENDED


def test_the_runtimes_reasons_are_listed_too(
    served: ServedGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert httpx.get(served.base_url + "/readyz").status_code == 200  # started
    runtime = gateway_of(served).runtime
    assert runtime is not None and served.call(runtime.not_ready) == []
    limits_down = NotReady("limits_unavailable", "the limit backend does not answer")

    async def not_ready(status: object = None) -> list[NotReady]:
        return [limits_down]

    monkeypatch.setattr(runtime, "not_ready", not_ready)
    ready = httpx.get(served.base_url + "/readyz")
    assert ready.status_code == 503
    assert ready.json()["reasons"] == [limits_down.as_json()]
    begin_drain(served, delay=30, timeout=0)
    assert httpx.get(served.base_url + "/readyz").json()["reasons"] == [
        DRAINING,
        limits_down.as_json(),
    ]
    gateway_of(served).hurry()


def test_drain_takes_the_configurations_block() -> None:
    async def drain() -> list[str]:
        gateway = create_app({"models": [spark_entry("m", "ws://127.0.0.1:1")], "drain": {}})
        assert gateway.config is not None
        assert (gateway.config.drain.delay, gateway.config.drain.timeout) == (0, 30)
        models = [spark_entry("m", "ws://127.0.0.1:1")]
        gateway = create_app({"models": models, "drain": {"delay": 0, "timeout": 0}})
        async with gateway.lifespan():
            await asyncio.wait_for(gateway.drain(), 5)  # no delay, nothing in flight
            return [reason.code for reason in await gateway.not_ready()]

    assert asyncio.run(drain()) == ["draining"]


def test_signals_are_left_alone_outside_uvicorn() -> None:
    """In a plain event loop (no uvicorn Server owns SIGTERM) nothing is installed."""

    async def install() -> bool:
        return SignalDrain(create_app([spark_entry("m", "ws://127.0.0.1:1")])).install()

    before = signal.getsignal(signal.SIGTERM)
    assert uvicorn_server() is None
    assert asyncio.run(install()) is False
    assert signal.getsignal(signal.SIGTERM) is before


def test_readyz_lists_an_unreachable_limit_store_and_the_drain() -> None:
    pytest.importorskip("redis")
    with socket.create_server(("127.0.0.1", 0)) as taken:  # a port where no Redis answers
        port = taken.getsockname()[1]
    limits = {"backend": "redis", "url": f"redis://127.0.0.1:{port}/0"}
    limits["on_unavailable"] = "fail_closed"
    server = ServedGateway(
        lambda url: create_app({"models": [spark_entry("spark-max", url)], "limits": limits})
    ).start()
    try:
        ready = httpx.get(server.base_url + "/readyz")
        assert ready.status_code == 503
        store = {
            "code": "limit_store_unavailable",
            "message": "the limits' store (redis) cannot be reached and "
            "limits.on_unavailable is fail_closed",
        }
        assert ready.json()["reasons"] == [store]
        begin_drain(server, delay=30, timeout=0)
        assert httpx.get(server.base_url + "/readyz").json()["reasons"] == [DRAINING, store]
        gateway_of(server).hurry()
    finally:
        server.stop()
