"""``asgi-spark ask`` and ``asgi-spark --version``, run as a user runs them."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess

import pytest

from asgi_spark.testing import GatewayHandle, directive

from .process import EXE


def ask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "ask", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_version() -> None:
    result = subprocess.run([EXE, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.strip() == f"asgi-spark {importlib.metadata.version('asgi-spark')}"


def test_ask_the_demo_in_process() -> None:
    result = ask("你好")
    assert result.returncode == 0, result.stderr
    assert "Spark simulator (generalv3.5) answering: 你好" in result.stdout
    assert "demo" in result.stderr and "demo-secret" not in result.stderr + result.stdout


def test_ask_a_running_gateway_its_first_model_by_default(spark_gateway: GatewayHandle) -> None:
    result = ask("hello", "--base-url", spark_gateway.base_url, env={"OPENAI_API_KEY": "sk-x"})
    assert result.returncode == 0, result.stderr
    assert "(lite) answering: hello" in result.stdout  # spark-lite is listed first


def test_ask_streams_reasoning_to_stderr_and_the_answer_to_stdout(
    spark_gateway: GatewayHandle,
) -> None:
    base = spark_gateway.url  # without /v1: added
    result = ask("why? " + directive(answer="because"), "--base-url", base, "--model", "spark-x1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "because"
    assert result.stderr.strip()  # X1's reasoning


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "http://127.0.0.1:1/v1"], "cannot reach http://127.0.0.1:1/v1/models"),
        (["--base-url", "ftp://example"], "--base-url must be an http:// or https:// URL"),
        (["--model", "nope"], "The model 'nope' does not exist on this gateway"),
        (["--model", "spark-max", "x" + directive(error_code=10013)], "content_filter"),
        (["--model", "spark-max", "x" + directive(close_after=1)], "upstream_closed"),
    ],
)
def test_failures_exit_1_with_the_errors_message(
    spark_gateway: GatewayHandle, args: list[str], message: str
) -> None:
    if "--base-url" not in args:
        args = ["--base-url", spark_gateway.base_url, *args]
    prompt = [] if any(a.startswith("x[") for a in args) else ["hi"]
    result = ask(*prompt, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
