"""``asgi-spark serve`` draining on SIGTERM and SIGINT, as an operator (or Kubernetes) stops it:
a real subprocess in front of the simulator, slow streams open, the signal sent, what each
client saw and what the simulator still holds checked."""

from __future__ import annotations

import json
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_spark.testing import SimulatorHandle, directive

from .process import Process, free_port

READY = "Uvicorn running on"
#: Ends on its own about a second after it starts.
QUICK = directive(chunks=5, frame_delay=0.25)
#: Would take a minute.
ENDLESS = directive(chunks=300, frame_delay=0.2)


class Stream(threading.Thread):
    """One streaming chat request read line by line in a thread; ``opened`` once its first
    chunk arrived."""

    def __init__(self, url: str, prompt: str) -> None:
        super().__init__(daemon=True)
        self.url, self.prompt = url, prompt
        self.opened = threading.Event()
        self.lines: list[str] = []
        self.status = 0
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        body = {
            "model": "spark-max",
            "stream": True,
            "messages": [{"role": "user", "content": "hi " + self.prompt}],
        }
        url = self.url + "/v1/chat/completions"
        try:
            with httpx.stream("POST", url, json=body, timeout=60) as r:
                self.status = r.status_code
                for line in r.iter_lines():
                    if line:
                        self.lines.append(line)
                        self.opened.set()
        except BaseException as exc:  # an incomplete response shows here
            self.error = exc
        finally:
            self.opened.set()

    def result(self) -> list[str]:
        self.join(timeout=30)
        assert not self.is_alive()
        assert self.error is None, self.error
        assert self.status == 200
        return self.lines


def finished_normally(lines: list[str]) -> bool:
    return lines[-1] == "data: [DONE]" and '"finish_reason":"stop"' in lines[-2]


def ended_by_the_drain(lines: list[str]) -> dict[str, Any]:
    assert "data: [DONE]" not in lines
    assert lines[-1].startswith("data: "), lines[-1]
    error: dict[str, Any] = json.loads(lines[-1][len("data: ") :])["error"]
    assert error["code"] == "gateway_draining" and error["type"] == "service_unavailable"
    return error


def refused(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=5)
    except httpx.ConnectError:
        return True
    return False


def write_config(path: Path, simulator: SimulatorHandle, **settings: Any) -> str:
    path.write_text(json.dumps({"models": [simulator.entry("spark-max")], **settings}))
    return str(path)


def test_sigterm_drains_a_server(spark_simulator: SimulatorHandle, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "models.json", spark_simulator, drain={"delay": 1, "timeout": 2}
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process("serve", "--config", config, "--port", str(port))
    try:
        process.wait_for(READY)
        quick, endless = Stream(url, QUICK), Stream(url, ENDLESS)
        assert quick.opened.wait(10) and endless.opened.wait(10)
        process.signal(signal.SIGTERM)
        process.wait_for(r"draining \(SIGTERM received\).* served for 1 s")
        ready = httpx.get(url + "/readyz")  # within the delay: answered, not ready
        assert ready.status_code == 503
        assert ready.json()["reasons"] == [
            {"code": "draining", "message": "the gateway is shutting down (SIGTERM received)"}
        ]
        assert httpx.get(url + "/healthz").status_code == 200
        process.wait_for(r"draining: no new requests; waiting up to 2 s for \d request")
        process.wait_for("Waiting for connections to close")  # uvicorn closed its socket
        assert refused(url)
        assert finished_normally(quick.result())
        error = ended_by_the_drain(endless.result())
        assert "drain timeout (2 s)" in error["message"]
        assert process.proc.wait(timeout=30) == 0
    finally:
        process.stop()
    process.wait_for(r"draining: ending 1 request\(s\) still in flight")
    spark_simulator.wait_closed(timeout=5)  # the ended stream's upstream socket too
    assert spark_simulator.open_connections == 0


def test_sigterm_drains_every_worker_with_the_command_lines_deadlines(
    spark_simulator: SimulatorHandle, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "models.json", spark_simulator, drain={"delay": 30, "timeout": 60}
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process(
        "serve", "--config", config, "--port", str(port), "--workers", "2",
        "--drain-delay", "0", "--drain-timeout", "1",
    )  # fmt: skip
    try:
        process.wait_for("Application startup complete", times=2)
        streams = [Stream(url, ENDLESS) for _ in range(4)]
        assert all(stream.opened.wait(10) for stream in streams)
        process.signal(signal.SIGTERM)
        process.wait_for(r"draining \(SIGTERM received\).* served for 0 s", times=2)
        for stream in streams:
            assert "drain timeout (1 s)" in ended_by_the_drain(stream.result())["message"]
        assert process.proc.wait(timeout=30) == 0
    finally:
        process.stop()
    assert process.count("drained: no request in flight") == 2
    spark_simulator.wait_closed(timeout=5)


def test_a_second_ctrl_c_ends_the_streams_at_once(
    spark_simulator: SimulatorHandle, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "models.json", spark_simulator)  # timeout: 30 s
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process("serve", "--config", config, "--port", str(port))
    try:
        process.wait_for(READY)
        endless = Stream(url, ENDLESS)
        assert endless.opened.wait(10)
        process.signal(signal.SIGINT)
        process.wait_for(r"waiting up to 30 s for 1 request")
        process.signal(signal.SIGINT)
        process.wait_for("SIGINT again: ending the requests in flight now")
        ended_by_the_drain(endless.result())
        assert process.proc.wait(timeout=20) == 0
    finally:
        process.stop()
    spark_simulator.wait_closed(timeout=5)


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_the_header_deadline_holds_with_workers(tmp_path: Path, http: str) -> None:
    if http == "httptools":
        pytest.importorskip("httptools")
    path = tmp_path / "models.json"
    entry = {
        "id": "m",
        "adapter": "websocket_xunfei",
        "base_url": "ws://127.0.0.1:1",
        "api_key": "k",
        "config": {"app_id": "a", "api_secret": "s"},
    }
    path.write_text(json.dumps({"models": [entry], "header_timeout": 0.3}))
    port = free_port()
    process = Process(
        "serve", "--config", str(path), "--port", str(port), "--workers", "2", "--http", http
    )
    try:
        process.wait_for("Application startup complete", times=2)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")  # and no more
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        process.stop()
    assert received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), received
    assert b"the request headers did not arrive within 0.3 s (header_timeout)" in received
    assert process.count("header_timeout is not enforced") == 0
