"""The access log and the request id, as an operator and a client see them: real requests
through uvicorn and the ``openai`` SDK, the log line parsed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from asgi_spark import create_app
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, ServedGateway, spark_entry
from tests.logcapture import LogCapture, capture, parse_plain

SECRETS = (API_KEY, API_SECRET, APP_ID)


def _served(access_log: dict[str, Any]) -> ServedGateway:
    return ServedGateway(
        lambda url: create_app(
            {
                "models": [
                    spark_entry("spark-max", url),
                    spark_entry("spark-lite", url, config={"api_version": "v1.1"}),
                ],
                "access_log": access_log,
            }
        )
    ).start()


@pytest.fixture(scope="module")
def plain() -> Iterator[ServedGateway]:
    server = _served({})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def json_content() -> Iterator[ServedGateway]:
    server = _served({"format": "json", "include_content": True})
    yield server
    server.stop()


@pytest.fixture
def log() -> Iterator[LogCapture]:
    with capture("asgi_spark.access") as handler:
        yield handler


def _client(server: ServedGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0)


def _line_for(log: LogCapture, request_id: str) -> str:
    return log.wait_for(lambda line: f"request_id={request_id} " in line)


def _no_secret(line: str) -> None:
    for secret in SECRETS:
        assert secret not in line


def test_a_stream_gives_one_plain_line_with_the_request_id_of_the_response(
    plain: ServedGateway, log: LogCapture
) -> None:
    with _client(plain) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="spark-max",
            messages=[{"role": "user", "content": "secret question"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    assert len(request_id) == 32
    line = _line_for(log, request_id)
    fields = parse_plain(line)
    assert fields["endpoint"] == "chat.completions"
    assert fields["model"] == "spark-max"
    assert fields["status"] == 200 and fields["stream"] is True and fields["finish"] == "stop"
    assert fields["ttft_ms"] >= 0 and fields["duration_ms"] >= fields["ttft_ms"]
    assert fields["prompt_tokens"] == chunks[-1].usage.prompt_tokens  # type: ignore[union-attr]
    assert fields["completion_tokens"] == chunks[-1].usage.completion_tokens  # type: ignore[union-attr]
    assert fields["sid"] == chunks[0].id.removeprefix("chatcmpl-")
    assert fields["attempts"] == 1
    assert "secret question" not in line and "messages" not in fields
    _no_secret(line)
    assert sum(f"request_id={request_id} " in x for x in log.lines) == 1


def test_the_clients_request_id_is_kept_and_returned(plain: ServedGateway, log: LogCapture) -> None:
    with _client(plain) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="spark-max",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Request-ID": "trace-4bf92f35:1"},
        )
    assert raw.headers["x-request-id"] == "trace-4bf92f35:1"
    fields = parse_plain(_line_for(log, "trace-4bf92f35:1"))
    assert fields["stream"] is False and fields["status"] == 200


@pytest.mark.parametrize(
    ("value", "why"),
    [("x" * 129, "129 bytes long"), ("a b", "not printable ASCII"), ("naïve", "not printable")],
)
def test_a_bad_request_id_is_a_400_naming_the_header_answered_with_a_new_id(
    plain: ServedGateway, log: LogCapture, value: str, why: str
) -> None:
    response = httpx.post(
        plain.base_url + "/v1/chat/completions",
        headers={"X-Request-ID": value.encode()},  # type: ignore[dict-item]
        json={"model": "spark-max", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request_id" and error["param"] == "X-Request-ID"
    assert "1 to 128 printable ASCII characters" in error["message"] and why in error["message"]
    new_id = response.headers["x-request-id"]
    assert new_id != value and len(new_id) == 32
    fields = parse_plain(_line_for(log, new_id))
    assert fields["status"] == 400 and fields["error"] == "invalid_request_id"
    assert fields["param"] == "X-Request-ID"


def test_a_refused_parameter_is_named_in_the_line(plain: ServedGateway, log: LogCapture) -> None:
    with _client(plain) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="spark-max", messages=[{"role": "user", "content": "hi"}], logprobs=True
        )
    request_id = caught.value.response.headers["x-request-id"]
    fields = parse_plain(_line_for(log, request_id))
    assert fields["status"] == 400
    assert fields["error"] == "unsupported_parameter" and fields["param"] == "logprobs"
    assert "logprobs" in fields["message"]


def test_ignored_parameters_and_spark_errors_are_in_the_line(
    plain: ServedGateway, log: LogCapture
) -> None:
    with _client(plain) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="spark-max",
            messages=[{"role": "user", "content": "hi [spark:error_code=11202]"}],
            seed=1,
            metadata={"k": "v"},
        )
    fields = parse_plain(_line_for(log, caught.value.response.headers["x-request-id"]))
    assert fields["ignored"] == "seed,metadata"
    assert fields["status"] == 429 and fields["error"] == "rate_limit_exceeded"
    assert fields["upstream_code"] == 11202 and fields["sid"]


def test_bad_bodies_and_unknown_models_are_logged_too(
    plain: ServedGateway, log: LogCapture
) -> None:
    bad = httpx.post(plain.base_url + "/v1/chat/completions", content=b"{")
    unknown = httpx.post(
        plain.base_url + "/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert parse_plain(_line_for(log, bad.headers["x-request-id"]))["status"] == 400
    fields = parse_plain(_line_for(log, unknown.headers["x-request-id"]))
    assert fields["status"] == 404 and fields["error"] == "model_not_found"
    assert fields["model"] == "gpt-4"


def test_json_lines_with_content_when_enabled(json_content: ServedGateway, log: LogCapture) -> None:
    with _client(json_content) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="spark-lite",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
            ],
        )
        answer = raw.parse().choices[0].message.content
    request_id = raw.headers["x-request-id"]
    line = log.wait_for(lambda text: request_id in text)
    fields = json.loads(line)
    assert fields["request_id"] == request_id and fields["model"] == "spark-lite"
    assert fields["messages"] == [["system", "be brief"], ["user", "hello there"]]
    assert fields["answer"] == answer
    assert isinstance(fields["duration_ms"], float) and fields["stream"] is False
    _no_secret(line)
