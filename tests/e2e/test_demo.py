"""The demo gateway started the way the README says.

`asgi-spark serve` and `uvicorn asgi_spark:app`, as subprocesses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import openai
import pytest

from .server import listening_socket


def _free_port() -> int:
    sock = listening_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class Process:
    """A server subprocess; ``ready`` is set when its log says it is accepting connections."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.exited = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Uvicorn running on" in line:
                self.ready.set()
        self.exited.set()
        self.ready.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def demo_port() -> int:
    return _free_port()


def _start(args: list[str], env: dict[str, str] | None = None) -> Iterator[Process]:
    process = Process(args, env)
    assert process.ready.wait(timeout=60), "server did not start"
    assert not process.exited.is_set(), "".join(process.lines)
    yield process
    process.stop()


@pytest.fixture
def serve_demo(demo_port: int) -> Iterator[Process]:
    exe = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
    yield from _start([exe, "serve", "--port", str(demo_port)])


@pytest.fixture
def uvicorn_demo(demo_port: int) -> Iterator[Process]:
    env = {"ASGI_SPARK_CONFIG": ""}
    yield from _start(
        [sys.executable, "-m", "uvicorn", "asgi_spark:app", "--port", str(demo_port)], env
    )


def _stream_answer(port: int) -> str:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=0
    ) as client:
        chunks = list(
            client.chat.completions.create(
                model="spark-demo", messages=[{"role": "user", "content": "你好"}], stream=True
            )
        )
    assert chunks[-1].choices[0].finish_reason == "stop"
    return "".join(c.choices[0].delta.content or "" for c in chunks)


def test_asgi_spark_serve_demo(serve_demo: Process, demo_port: int) -> None:
    assert _stream_answer(demo_port)
    assert any("demo mode" in line.lower() for line in serve_demo.lines)
    assert not any("demo-secret" in line for line in serve_demo.lines)


def test_uvicorn_asgi_spark_app_demo(uvicorn_demo: Process, demo_port: int) -> None:
    assert _stream_answer(demo_port)
    assert any("demo mode" in line.lower() for line in uvicorn_demo.lines)


def test_bad_config_stops_startup_with_a_clear_message(tmp_path: object, demo_port: int) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "models.json"
    path.write_text(
        '[{"id": "m", "adapter": "websocket", "request_format": "xunfei", '
        '"base_url": "wss://spark-api.xf-yun.com", "api_key": "ENV:NOPE_KEY_X", '
        '"config": {"app_id": "a", "api_secret": "s"}}]'
    )
    exe = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
    result = subprocess.run(
        [exe, "serve", "--config", str(path), "--port", str(demo_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "NOPE_KEY_X" in result.stderr and "'m'" in result.stderr
