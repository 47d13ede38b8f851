"""``asgi-spark simulator``: help text, argument errors, and a real run in a subprocess."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

import pytest

from asgi_spark.cli import main
from asgi_spark.simulator.faults import FAULT_NAMES

from .helpers import Exchange, chat_frame, read_all


def test_help_documents_every_option_and_fault(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulator", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--app-id",
        "--api-key",
        "--api-secret",
        "--idle-timeout",
        "--fault",
    ):
        assert option in text
    for name in FAULT_NAMES:
        assert re.search(rf"^  {name} ", text, re.MULTILINE), name
    assert "[spark:error_code=10014,error_after=2]" in text
    assert "cannot come from a prompt" in text
    assert "/v3.5/chat" in text


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "simulator" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("bogus=1", "unknown key 'bogus'"),
        ("chunks=0", "chunks must be"),
        ("error_after=1", "needs error_code"),
    ],
)
def test_bad_fault_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], fault: str, message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulator", "--fault", fault])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


async def test_runs_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asgi_spark",
        "simulator",
        "--port",
        "0",
        "--app-id",
        "cli-app",
        "--api-key",
        "cli-key",
        "--api-secret",
        "cli-very-secret",
        "--fault",
        "chunks=2",
        "--fault",
        "frame_delay=0.01",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        match = re.fullmatch(r"Spark simulator listening on (ws://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        result = await _ask(match.group(1))
        assert len(result.frames) == 2
        assert result.last["payload"]["usage"]["text"]["total_tokens"] > 0
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert b"cli-very-secret" not in line.encode() + stdout + stderr


async def _ask(base: str) -> Exchange:
    from websockets.asyncio.client import connect

    from asgi_spark.adapters.spark.auth import sign_url

    url = sign_url(base + "/v3.5/chat", "cli-key", "cli-very-secret")
    async with connect(url) as ws:
        await ws.send(json.dumps(chat_frame(app_id="cli-app")))
        return await read_all(ws)


async def test_port_in_use_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = await asyncio.to_thread(main, ["simulator", "--port", str(port)])
    assert status == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
