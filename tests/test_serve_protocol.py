"""``asgi-spark serve``'s server (asgi_spark/serve_protocol.py): the request-header deadline on
uvicorn's h11 and httptools protocols, and the connection cap, with raw sockets over loopback;
and the start-up warning of an open API."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from asgi_spark import create_app
from asgi_spark.cli import main
from asgi_spark.serve_protocol import (
    header_timeout_protocol,
    is_loopback,
    open_api_warning,
    uvicorn_config,
)
from tests.e2e.server import ServedGateway, spark_entry

HEADER_TIMEOUT = 0.3
HI = {"model": "spark-max", "messages": [{"role": "user", "content": "hi"}]}


def gateway(simulator_url: str, **settings: Any) -> Any:
    return create_app({"models": [spark_entry("spark-max", simulator_url)], **settings})


@pytest.fixture(scope="module", params=["h11", "httptools"])
def served(request: pytest.FixtureRequest) -> Iterator[ServedGateway]:
    if request.param == "httptools":
        pytest.importorskip("httptools")

    def server_config(app: Any) -> uvicorn.Config:
        protocol = header_timeout_protocol(HEADER_TIMEOUT, request.param)
        return uvicorn.Config(app, http=protocol, log_level="warning", lifespan="on")

    server = ServedGateway(
        lambda url: gateway(url, body_timeout=0.6), server_config=server_config
    ).start()
    yield server
    server.stop()


def connect(server: ServedGateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection.  A reset ends it too: a
    server that closes while bytes the client sent are still unread makes the kernel send a
    reset after its answer (the slowloris test keeps sending until it sees the answer)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def request(body: bytes = json.dumps(HI).encode(), *, close: bool = False) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + (b"Connection: close\r\n" if close else b"")
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def header_timeout_answer(received: bytes) -> dict[str, Any]:
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert b"connection: close" in head
    parsed: dict[str, Any] = json.loads(body)
    return parsed


EXPECTED_408 = {
    "error": {
        "message": f"the request headers did not arrive within {HEADER_TIMEOUT:g} s "
        "(header_timeout)",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_timeout",
    }
}


def test_partial_headers_get_a_408_and_the_connection_closes(served: ServedGateway) -> None:
    with connect(served) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")  # and no more
        received = read_to_end(sock)
        elapsed = time.monotonic() - started
    assert header_timeout_answer(received) == EXPECTED_408
    assert HEADER_TIMEOUT <= elapsed < HEADER_TIMEOUT + 3


def test_trickled_headers_do_not_extend_the_deadline(served: ServedGateway) -> None:
    """Slowloris: a byte whenever the server has said nothing for 50 ms."""
    line = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Padding: " + b"a" * 10_000
    with connect(served) as sock:
        sock.settimeout(0.05)
        started = time.monotonic()
        received = b""
        for byte in line:
            sock.sendall(bytes([byte]))
            try:
                received = sock.recv(65536)
            except TimeoutError:
                continue
            break
        sock.settimeout(5)
        received += read_to_end(sock)
        elapsed = time.monotonic() - started
    assert header_timeout_answer(received) == EXPECTED_408
    assert elapsed < HEADER_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    served: ServedGateway,
) -> None:
    with connect(served) as sock:
        assert read_to_end(sock) == b""


def test_a_kept_alive_connection_has_the_deadline_for_its_next_request(
    served: ServedGateway,
) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):  # the small JSON answer, connection kept alive
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request, cut short
        assert header_timeout_answer(read_to_end(sock)) == EXPECTED_408


def test_complete_headers_stop_the_deadline_the_body_has_its_own(served: ServedGateway) -> None:
    with connect(served) as sock:
        sock.sendall(request(close=True)[:-10])  # the headers, most of the body
        received = read_to_end(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"]["message"] == (
        "the request body did not arrive within 0.6 s (body_timeout)"
    )


def test_an_answer_longer_than_the_deadline_is_not_cut(served: ServedGateway) -> None:
    slow = {
        **HI,
        "stream": True,
        "messages": [
            {"role": "user", "content": "hi [spark:first_frame_delay=0.2,frame_delay=0.1,chunks=4]"}
        ],
    }
    with connect(served) as sock:
        sock.sendall(request(json.dumps(slow).encode(), close=True))
        received = read_to_end(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.rstrip(b"\r\n0").endswith(b"data: [DONE]"), received[-200:]


# --------------------------------------------------------------------------- connections


@pytest.fixture(scope="module")
def capped() -> Iterator[ServedGateway]:
    """The gateway served as ``asgi-spark serve`` does, with ``"max_connections": 2``."""

    def server_config(app: Any) -> uvicorn.Config:
        return uvicorn_config(app, app.config, host="127.0.0.1", port=0, log_level="warning")

    server = ServedGateway(
        lambda url: gateway(url, max_connections=2), server_config=server_config
    ).start()
    yield server
    server.stop()


def held_connection(server: ServedGateway) -> socket.socket:
    """A connection the server has surely accepted: one request answered, kept alive."""
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
    answer = b""
    while not answer.endswith(b"}"):
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ")
    return sock


def test_max_connections_are_served_and_one_more_is_503(capped: ServedGateway) -> None:
    with held_connection(capped):
        r = httpx.post(capped.base_url + "/v1/chat/completions", json=HI)
        assert r.status_code == 200  # the second connection
        with held_connection(capped):
            r = httpx.get(capped.base_url + "/healthz")  # a third
    assert r.status_code == 503
    assert r.text == "Service Unavailable"
    assert httpx.get(capped.base_url + "/healthz").status_code == 200  # room again


# --------------------------------------------------------------------------- asgi-spark serve


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[uvicorn.Config]]:
    """``asgi-spark serve`` runs to the point of starting uvicorn, which records its config."""
    seen: list[uvicorn.Config] = []

    def run(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        seen.append(self.config)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.delenv("ASGI_SPARK_CONFIG", raising=False)
    # serve configures logging for the process: undo it after the test.
    root, gateway_logger = logging.getLogger(), logging.getLogger("asgi_spark")
    handlers, level = list(root.handlers), gateway_logger.level
    yield seen
    root.handlers[:] = handlers
    gateway_logger.setLevel(level)


def write_config(tmp_path: Path, **settings: Any) -> str:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": [spark_entry("m", "ws://127.0.0.1:1")], **settings}))
    return str(path)


OPEN_WARNING = (
    "asgi-spark serve: warning: listening on {where} without api_keys, so the API is open to "
    "the network: anyone who can reach this address can use the models (and spend the upstream "
    "quota). Set api_keys in the configuration, or listen on 127.0.0.1.\n"
)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "gateway.internal"])
def test_serve_warns_when_the_api_is_open_beyond_loopback(
    configs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str], host: str, tmp_path: Path
) -> None:
    main(["serve", "--config", write_config(tmp_path), "--host", host, "--port", "8000"])
    assert capsys.readouterr().err == OPEN_WARNING.format(where=f"{host}:8000")
    (config,) = configs
    assert config.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_serve_on_loopback_does_not_warn(
    configs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str], host: str, tmp_path: Path
) -> None:
    main(["serve", "--config", write_config(tmp_path), "--host", host])
    assert capsys.readouterr().err == ""
    assert is_loopback(host)


def test_serve_with_keys_does_not_warn(
    configs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_config(tmp_path, api_keys=["sk-client-0123456789"], host="0.0.0.0")
    main(["serve", "--config", path])
    assert capsys.readouterr().err == ""
    assert configs[0].host == "0.0.0.0"


def test_the_demo_beyond_loopback_warns_too(
    configs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["serve", "--demo", "--host", "0.0.0.0"])
    assert capsys.readouterr().err == OPEN_WARNING.format(where="0.0.0.0:8765")


def test_serve_passes_the_header_deadline_and_the_cap(
    configs: list[uvicorn.Config], tmp_path: Path
) -> None:
    main(["serve", "--config", write_config(tmp_path, header_timeout=4, max_connections=50)])
    main(
        [
            "serve",
            "--config",
            write_config(tmp_path, max_connections=50),
            "--limit-concurrency",
            "7",
        ]
    )
    main(["serve", "--demo"])
    capped, overridden, demo = configs
    assert issubclass(capped.http, asyncio.Protocol)  # type: ignore[arg-type]
    assert capped.http.header_timeout == 4  # type: ignore[union-attr]
    assert capped.limit_concurrency == 51  # uvicorn counts the requesting connection too
    assert overridden.limit_concurrency == 8
    assert demo.http.header_timeout == 10  # type: ignore[union-attr]
    assert demo.limit_concurrency is None


@pytest.mark.parametrize(
    ("value", "message"), [("0", "must be at least 1, not 0"), ("x", "not a whole number: 'x'")]
)
def test_a_bad_limit_is_a_usage_error(
    configs: list[uvicorn.Config], capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--demo", "--limit-concurrency", value])
    assert info.value.code == 2
    assert f"argument --limit-concurrency: {message}" in capsys.readouterr().err
    assert configs == []


def test_open_api_warning_reads_the_config() -> None:
    assert open_api_warning("127.0.0.1", 1, None) is None
    assert open_api_warning("0.0.0.0", 1, None) is not None
