"""The small things a newcomer trips over: log lines, ports, a base_url with the chat path in
it, a handshake 404 and an unreachable upstream that say where they looked."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_spark import create_app
from asgi_spark.cli import DEFAULT_SIMULATOR_PORT, main
from asgi_spark.config import DEFAULT_PORT
from asgi_spark.testing import GatewayHandle, SimulatorHandle
from tests.e2e.server import ServedGateway, spark_entry
from tests.logcapture import capture, parse_plain

from .process import EXE, Process, free_port


def _entry(base_url: str, **config: str) -> dict[str, object]:
    return {
        "id": "spark-max",
        "adapter": "websocket_xunfei",
        "base_url": base_url,
        "api_key": "k",
        "config": {"app_id": "a", "api_secret": "s", **config},
    }


@pytest.mark.parametrize(
    ("base_url", "config", "advice"),
    [
        (
            "wss://spark-api.xf-yun.com/v3.5/chat",
            {},
            "write base_url 'wss://spark-api.xf-yun.com'.",
        ),
        (
            "wss://spark-api.xf-yun.com/v4.0/chat/",
            {},
            "write base_url 'wss://spark-api.xf-yun.com' and set config.api_version to 'v4.0'",
        ),
        (
            "wss://user:pw@proxy.internal/spark/v1/x1",
            {"api_version": "x1"},
            "write base_url 'wss://proxy.internal/spark'",
        ),
    ],
)
def test_check_config_and_serve_catch_a_chat_path_in_base_url(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    config: dict[str, str],
    advice: str,
) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps([_entry(base_url, **config)]), encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "field 'base_url'" in err and advice in err and "gateway adds itself" in err
    assert ":pw@" not in err
    assert main(["serve", "--config", str(path), "--port", "1"]) == 2
    assert advice in capsys.readouterr().err


def test_a_proxy_prefix_in_base_url_stays_valid(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps([_entry("wss://proxy.internal:8443/spark/")]), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0


def test_a_handshake_404_names_the_path_it_tried(
    spark_simulator: SimulatorHandle, spark_gateway: GatewayHandle
) -> None:
    spark_simulator.set_faults(handshake_status=404)
    response = httpx.post(
        spark_gateway.base_url + "/chat/completions",
        json={"model": "spark-ultra", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "the path tried was '/v4.0/chat'" in message
    assert "authorization" not in message


@pytest.fixture
def unreachable() -> Iterator[tuple[ServedGateway, int]]:
    port = free_port()
    server = ServedGateway(lambda url: create_app([spark_entry("dead", f"ws://127.0.0.1:{port}")]))
    yield server.start(), port
    server.stop()


def test_an_unreachable_upstream_names_the_host_never_the_signed_query(
    unreachable: tuple[ServedGateway, int],
) -> None:
    server, port = unreachable
    with capture("asgi_spark.access") as log:
        response = httpx.post(
            server.base_url + "/v1/chat/completions",
            json={"model": "dead", "messages": [{"role": "user", "content": "hi"}]},
        )
        request_id = response.headers["x-request-id"]
        line = log.wait_for(lambda text: request_id in text)
    assert response.status_code == 503
    assert f"cannot reach upstream 127.0.0.1:{port}" in response.json()["error"]["message"]
    assert f"cannot reach upstream 127.0.0.1:{port}" in parse_plain(line)["message"]
    for needle in ("authorization", "signature", "date=", "?"):
        assert needle not in line


def test_the_demo_start_up_line_is_one_sentence() -> None:
    port = free_port()
    process = Process("serve", "--port", str(port))
    try:
        line = process.wait_for("Demo mode")[0]
        process.wait_for("Uvicorn running on")
    finally:
        process.stop()
    assert re.fullmatch(
        r"WARNING: +Demo mode: no configuration was given, so model 'spark-demo' .*\.", line
    )
    assert "asgi_spark" not in line


def test_the_simulator_and_the_gateway_have_different_default_ports() -> None:
    assert DEFAULT_SIMULATOR_PORT != DEFAULT_PORT
    help_text = subprocess.run(
        [EXE, "simulator", "--help"], capture_output=True, text=True, timeout=30
    ).stdout
    assert f"(default: {DEFAULT_SIMULATOR_PORT})" in help_text
