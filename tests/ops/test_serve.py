"""``asgi-spark serve`` run as an operator runs it: a subprocess, scraped, signalled, its log
lines read."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from asgi_spark.testing import SimulatorHandle, directive
from tests.logcapture import parse_plain

from .process import Process, free_port

READY = "Uvicorn running on"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def demo() -> Iterator[tuple[Process, str]]:
    port = free_port()
    process = Process("serve", "--port", str(port))
    process.wait_for(READY)
    yield process, f"http://127.0.0.1:{port}"
    process.stop()


def test_metrics_are_scraped_from_the_standalone_server(demo: tuple[Process, str]) -> None:
    process, url = demo
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        list(
            client.chat.completions.create(
                model="spark-demo", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(
                model="spark-demo",
                messages=[{"role": "user", "content": "hi " + directive(error_code=10110)}],
            )
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "hi"}]
            )
    process.wait_for("model=no-such-model")  # the last request has been observed
    response = httpx.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    ok = {"model": "spark-demo", "endpoint": "chat.completions", "stream": "true"}
    assert value("asgi_spark_requests_total", status="200", **ok) == 1
    failed = {**ok, "stream": "false", "status": "503"}
    assert value("asgi_spark_requests_total", **failed) == 1
    assert value("asgi_spark_requests_total", **{**failed, "model": "other", "status": "404"}) == 1
    assert value("asgi_spark_time_to_first_token_seconds_count", model="spark-demo", stream="true")
    assert value("asgi_spark_request_duration_seconds_count", model="spark-demo", stream="false")
    assert value("asgi_spark_completion_tokens_total", model="spark-demo") > 0
    assert value("asgi_spark_prompt_tokens_total", model="spark-demo") > 0
    assert (
        value(
            "asgi_spark_upstream_errors_total",
            model="spark-demo",
            code="10110",
            phase="before_answer",
        )
        == 1
    )
    assert value("asgi_spark_open_streams") == 0
    assert value("asgi_spark_in_flight_requests") == 0
    assert ("process_cpu_seconds_total", frozenset()) in samples
    assert "demo-secret" not in response.text and "demo-key" not in response.text
    # uvicorn's own access log is off: one line per request, the gateway's
    assert process.count(r'"POST /v1/chat/completions') == 0
    assert process.count(r"^request_id=\w+ endpoint=chat.completions") == 3


def test_no_metrics_turns_the_route_off(tmp_path: Path) -> None:
    port = free_port()
    process = Process("serve", "--port", str(port), "--no-metrics", "--access-log-format", "json")
    try:
        process.wait_for(READY)
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 404
        httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "spark-demo", "messages": [{"role": "user", "content": "hi"}]},
        )
        line = process.wait_for(r'^\{"request_id"')[0]
        assert json.loads(line)["status"] == 200
    finally:
        process.stop()


def test_without_the_extra_nothing_of_it_is_imported_and_there_is_no_route() -> None:
    script = """
import sys
sys.modules["prometheus_client"] = None  # as if the metrics extra were not installed
import asgi_spark.cli, asgi_spark.serve, asgi_spark.gateway, asgi_spark.testing
from asgi_spark.serve import ServeOptions, build_app, metrics_available
app = build_app(ServeOptions())
assert not metrics_available() and app.metrics_app is None
assert "asgi_spark.metrics" not in sys.modules
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def _write(path: Path, entries: object) -> None:
    path.write_text(json.dumps(entries), encoding="utf-8")


def _models(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]]


def test_sighup_reloads_the_config_and_requests_in_flight_finish_on_theirs(
    spark_simulator: SimulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "models.json"
    _write(path, [spark_simulator.entry("model-a")])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process("serve", "--config", str(path), "--port", str(port))
    try:
        process.wait_for(READY)
        assert _models(url) == ["model-a"]
        with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
            slow = directive(chunks=4, frame_delay=0.5)
            stream = client.chat.completions.create(
                model="model-a", messages=[{"role": "user", "content": "hi " + slow}], stream=True
            )
            chunks = [next(iter(stream))]  # in flight now
            _write(path, [spark_simulator.entry("model-b", "v1.1")])
            process.signal()
            process.wait_for("configuration reloaded")
            assert _models(url) == ["model-b"]
            chunks += list(stream)
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert chunks[-1].model == "model-a"
        in_flight = parse_plain(process.wait_for(r"^request_id=.* model=model-a ")[0])
        assert in_flight["status"] == 200 and in_flight["finish"] == "stop"

        path.write_text('[{"id": "broken"}]', encoding="utf-8")
        process.signal()
        refused = process.wait_for("configuration not reloaded")[0]
        assert "broken" in refused and "adapter" in refused
        assert _models(url) == ["model-b"]
        assert spark_simulator.api_secret not in "\n".join(process.lines)
    finally:
        process.stop()


def test_sighup_with_workers_reloads_every_worker(
    spark_simulator: SimulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "models.json"
    _write(path, [spark_simulator.entry("model-a")])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = Process("serve", "--config", str(path), "--port", str(port), "--workers", "2")
    try:
        process.wait_for("Application startup complete", times=2)
        _write(path, [spark_simulator.entry("model-b")])
        process.signal()
        process.wait_for("configuration reloaded", times=2)
        assert all(_models(url) == ["model-b"] for _ in range(8))

        path.write_text("{not json", encoding="utf-8")
        process.signal()
        process.wait_for("configuration not reloaded", times=2)
        assert all(_models(url) == ["model-b"] for _ in range(8))
        assert process.proc.poll() is None
    finally:
        process.stop()
    assert process.count("Started server process") == 2  # no worker was restarted


def test_sighup_in_demo_mode_says_there_is_nothing_to_reload(demo: tuple[Process, str]) -> None:
    process, url = demo
    process.signal()
    process.wait_for("no configuration file to reload")
    assert httpx.get(url + "/healthz").status_code == 200


def test_a_stream_in_progress_is_an_open_stream(demo: tuple[Process, str]) -> None:
    process, url = demo
    done = threading.Event()
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="spark-demo",
            messages=[{"role": "user", "content": "hi " + directive(hang_after=1)}],
            stream=True,
        )
        next(iter(stream))
        samples = _samples(httpx.get(url + "/metrics").text)
        assert samples[("asgi_spark_open_streams", frozenset())] == 1
        assert samples[("asgi_spark_in_flight_requests", frozenset())] == 1
        stream.close()
        done.set()
    process.wait_for(r"cancelled=true")
    samples = _samples(httpx.get(url + "/metrics").text)
    assert samples[("asgi_spark_open_streams", frozenset())] == 0
    assert (
        samples[("asgi_spark_client_disconnects_total", frozenset({("model", "spark-demo")}))] == 1
    )
