"""Raw HTTP against the served gateway: SSE framing, endpoints, bad bodies, disconnects."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.openapi import validate

from .server import ServedGateway

HELLO = {"model": "spark-max", "messages": [{"role": "user", "content": "hi"}]}


def sse_payloads(text: str) -> list[str]:
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") and "\n" not in e for e in events), events
    return [e[len("data: ") :] for e in events]


def test_sse_framing_ends_with_done(gateway: ServedGateway) -> None:
    r = httpx.post(gateway.base_url + "/v1/chat/completions", json={**HELLO, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    for p in payloads[:-1]:
        validate("CreateChatCompletionStreamResponse", json.loads(p))


def test_error_after_start_has_no_done(gateway: ServedGateway) -> None:
    body = {
        **HELLO,
        "stream": True,
        "messages": [{"role": "user", "content": "x [spark:close_after=2]"}],
    }
    r = httpx.post(gateway.base_url + "/v1/chat/completions", json=body)
    assert r.status_code == 200
    payloads = sse_payloads(r.text)
    assert "[DONE]" not in payloads
    last = json.loads(payloads[-1])
    validate("ErrorResponse", last)
    assert last["error"]["code"] == "upstream_closed"
    assert len(payloads) == 3  # two chunks, then the error event


def test_models_list_and_get(gateway: ServedGateway) -> None:
    r = httpx.get(gateway.base_url + "/v1/models")
    assert r.status_code == 200
    listing = r.json()
    validate("ListModelsResponse", listing)
    ids = [m["id"] for m in listing["data"]]
    assert ids == ["spark-max", "spark-lite", "spark-x1", "spark-quick-timeout", "spark-image"]
    one = httpx.get(gateway.base_url + "/v1/models/spark-lite")
    validate("Model", one.json())
    assert one.json()["owned_by"] == "iflytek"
    missing = httpx.get(gateway.base_url + "/v1/models/nope")
    assert missing.status_code == 404
    validate("ErrorResponse", missing.json())


def test_healthz(gateway: ServedGateway) -> None:
    r = httpx.get(gateway.base_url + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/chat/completions", 405), ("GET", "/nope", 404), ("POST", "/v1/models", 405)],
)
def test_unknown_routes_are_openai_errors(
    gateway: ServedGateway, method: str, path: str, status: int
) -> None:
    r = httpx.request(method, gateway.base_url + path)
    assert r.status_code == status
    validate("ErrorResponse", r.json())


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        (b"", None, "empty"),
        (b"{not json", None, "not valid JSON"),
        (b'{"model": "spark-max"}', None, "messages"),
        (
            b'{"model": "spark-max", "messages": [{"role": 1, "content": "x"}]}',
            "messages[0].role",
            "Expected `str`",
        ),
        (
            b'{"model": "spark-max", "messages": [{"role": "robot", "content": "x"}]}',
            "messages[0].role",
            "robot",
        ),
        (b'{"model": "spark-max", "messages": []}', "messages", "at least one"),
        (
            b'{"model": "spark-max", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
            None,
            "the request body is not valid UTF-8",
        ),
        (
            b'{"model": "spark-max", "messages": [{"role": "user", "content": "x"}], '
            b'"metadata": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001,
            None,
            "the request body is not valid JSON: it is nested too deeply",
        ),
        (
            b'{"model": "spark-max", "messages": [{"role": "user", "content": "x"}], '
            b'"tools": [{"type": "function", "function": {"name": "f", "parameters": '
            + b'{"a": ' * 2000
            + b"1"
            + b"}" * 2000
            + b"}}]}",
            None,
            "the request body is not valid JSON: it is nested too deeply",
        ),
        (
            b'{"model": "spark-max", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": 3}',
            "temperature",
            "between 0 and 2",
        ),
    ],
)
def test_bad_bodies_are_400_with_clear_errors(
    gateway: ServedGateway, body: bytes, param: str | None, needle: str
) -> None:
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    error = r.json()
    validate("ErrorResponse", error)
    assert error["error"]["param"] == param
    assert needle in error["error"]["message"]


def test_oversized_body_is_413(gateway: ServedGateway) -> None:
    big = (
        b'{"model": "spark-max", "messages": [{"role": "user", "content": "'
        + b"x" * (9 * 1024 * 1024)
        + b'"}]}'
    )
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        content=big,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "request_too_large"


def test_client_disconnect_closes_the_upstream_socket(gateway: ServedGateway) -> None:
    assert gateway.simulator is not None
    body = {
        **HELLO,
        "stream": True,
        "messages": [{"role": "user", "content": "x [spark:hang_after=1]"}],
    }
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", gateway.base_url + "/v1/chat/completions", json=body) as r,
    ):
        lines = r.iter_lines()
        first = next(lines)
        assert first.startswith("data: ")
        assert gateway.simulator.open_connections == 1
    # leaving the block closed the client connection: the gateway must close upstream
    gateway.wait_upstream_closed(timeout=10)
    assert gateway.simulator.open_connections == 0


def test_client_disconnect_during_non_stream_closes_upstream(gateway: ServedGateway) -> None:
    assert gateway.simulator is not None
    body = {**HELLO, "messages": [{"role": "user", "content": "x [spark:hang_after=1]"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.base_url + "/v1/chat/completions", json=body, timeout=0.5)
    gateway.wait_upstream_closed(timeout=10)


# ------------------------------------------------------------------------- Server-Timing

_METRIC = r'[a-z]+;dur=\d+(\.\d+)?(;desc="[^"]*")?'
_TIMING = re.compile(rf"^{_METRIC}(, {_METRIC})*$")


def timing(response: httpx.Response) -> dict[str, str]:
    """The Server-Timing metrics of ``response`` (W3C syntax checked) by name."""
    value = response.headers["server-timing"]
    assert _TIMING.match(value), value
    return {part.split(";")[0]: part for part in value.split(", ")}


def test_server_timing_on_a_streamed_answer_holds_what_is_known_at_the_commit(
    gateway: ServedGateway,
) -> None:
    r = httpx.post(gateway.base_url + "/v1/chat/completions", json={**HELLO, "stream": True})
    metrics = timing(r)
    assert set(metrics) == {"gateway", "connect", "upstream"}
    assert metrics["upstream"].endswith(';desc="first frame"')


def test_server_timing_on_a_complete_answer_has_the_upstream_time(
    gateway: ServedGateway,
) -> None:
    r = httpx.post(gateway.base_url + "/v1/chat/completions", json=HELLO)
    assert r.status_code == 200
    metrics = timing(r)
    assert set(metrics) == {"gateway", "connect", "upstream"}
    assert "desc" not in metrics["upstream"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat/completions", {**HELLO, "model": "nope"}),  # before any upstream
        ("POST", "/v1/chat/completions", {"model": 1}),
        ("GET", "/v1/models", None),
        ("GET", "/healthz", None),
        ("GET", "/nope", None),
    ],
)
def test_server_timing_on_every_other_response(
    gateway: ServedGateway, method: str, path: str, body: object
) -> None:
    r = httpx.request(method, gateway.base_url + path, json=body)
    assert set(timing(r)) == {"gateway"}


def test_server_timing_on_an_upstream_error_counts_the_connection(
    gateway: ServedGateway,
) -> None:
    body = {**HELLO, "messages": [{"role": "user", "content": "x [spark:error_code=10013]"}]}
    r = httpx.post(gateway.base_url + "/v1/chat/completions", json=body)
    assert r.status_code == 400
    assert {"gateway", "connect", "upstream"} <= set(timing(r))
