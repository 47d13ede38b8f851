"""Client keys, CORS, the JSON content type and the body deadline, over loopback: uvicorn serving
the gateway, the simulator upstream, the official ``openai`` SDK and raw HTTP as clients."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from asgi_spark import create_app
from tests.openapi import validate

from .server import ServedGateway, spark_entry

OPEN_KEY = "sk-open-4f0c2a9d8e7b6a5c"
CI_KEY = "sk-ci-91b2c3d4e5f6a7b8"
ORIGIN = "https://app.example.com"
HI = {"messages": [{"role": "user", "content": "hi"}]}


def secured(simulator_url: str) -> Any:
    return create_app(
        {
            "models": [
                spark_entry("spark-max", simulator_url),
                spark_entry("spark-lite", simulator_url, config={"api_version": "v1.1"}),
            ],
            "api_keys": [OPEN_KEY, {"key": CI_KEY, "name": "ci", "models": ["spark-lite"]}],
            "cors": {"allow_origins": [ORIGIN], "allow_headers": ["x-request-id"]},
            "body_timeout": 0.3,
        }
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ServedGateway]:
    served = ServedGateway(secured).start()
    yield served
    served.stop()


def url(server: ServedGateway, path: str) -> str:
    return server.base_url + path


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def sdk(server: ServedGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url(server, "/v1"), api_key=key, max_retries=0)


# --------------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (
            {},
            "You didn't provide an API key. Send it in an Authorization header using Bearer "
            "auth (Authorization: Bearer YOUR_KEY).",
        ),
        (
            bearer("sk-wrong"),
            "Incorrect API key provided. Ask the gateway's operator for a valid key.",
        ),
        (
            {"authorization": OPEN_KEY},
            "The Authorization header must use Bearer auth (Authorization: Bearer YOUR_KEY).",
        ),
    ],
    ids=["missing", "unknown", "not-bearer"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/spark-max"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/no-such-route"),
        ("GET", "/v1/chat/completions"),
    ],
)
def test_every_v1_route_needs_a_key(
    server: ServedGateway, method: str, path: str, sent: dict[str, str], message: str
) -> None:
    r = httpx.request(method, url(server, path), headers=sent, json={"model": "spark-max", **HI})
    assert r.status_code == 401
    validate("ErrorResponse", r.json())
    assert r.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    assert r.headers["www-authenticate"] == 'Bearer realm="asgi-spark"'


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_key(server: ServedGateway, path: str) -> None:
    r = httpx.get(url(server, path))
    assert r.status_code == 200
    assert r.json()["models"] == 2


def test_a_key_opens_the_api(server: ServedGateway) -> None:
    with sdk(server, OPEN_KEY) as client:
        assert [m.id for m in client.models.list()] == ["spark-max", "spark-lite"]
        answer = client.chat.completions.create(model="spark-max", **HI)  # type: ignore[call-overload]
    assert answer.choices[0].message.content
    r = httpx.get(url(server, "/v1/no-such-route"), headers=bearer(OPEN_KEY))
    assert r.status_code == 404
    assert (
        r.json()["error"]["message"] == "GET /v1/no-such-route is not an endpoint of this gateway"
    )


def test_a_wrong_key_is_the_sdks_authentication_error(server: ServedGateway) -> None:
    with sdk(server, "sk-wrong") as client, pytest.raises(openai.AuthenticationError) as info:
        client.models.list()
    assert info.value.code == "invalid_api_key"


def test_a_key_with_models_sees_and_uses_only_those(server: ServedGateway) -> None:
    with sdk(server, CI_KEY) as client:
        assert [m.id for m in client.models.list()] == ["spark-lite"]
        assert client.models.retrieve("spark-lite").id == "spark-lite"
        with pytest.raises(openai.NotFoundError) as hidden:
            client.models.retrieve("spark-max")
        assert hidden.value.code == "model_not_found"
        assert hidden.value.body == {  # type: ignore[comparison-overlap]
            "message": "The model 'spark-max' does not exist on this gateway "
            "(available: spark-lite)",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
        with pytest.raises(openai.PermissionDeniedError) as refused:
            client.chat.completions.create(model="spark-max", **HI)  # type: ignore[call-overload]
        assert refused.value.status_code == 403
        assert refused.value.body == {  # type: ignore[comparison-overlap]
            "message": "This API key may not use the model 'spark-max' (it may use: spark-lite).",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_allowed",
        }
        answer = client.chat.completions.create(model="spark-lite", **HI)  # type: ignore[call-overload]
    assert answer.choices[0].message.content


def test_the_log_names_the_key_never_shows_it(
    server: ServedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_spark")
    caplog.set_level(logging.INFO, logger="asgi_spark.access")
    with sdk(server, CI_KEY) as client:
        client.chat.completions.create(model="spark-lite", **HI)  # type: ignore[call-overload]
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="spark-max", **HI)  # type: ignore[call-overload]
    httpx.get(url(server, "/v1/models"), headers=bearer("sk-wrong"))
    lines = [r.getMessage() for r in caplog.records if r.name == "asgi_spark"]
    access = [r.getMessage() for r in caplog.records if r.name == "asgi_spark.access"]
    assert any("model=spark-lite key=ci status=200" in line for line in access), access
    assert any(
        "model=spark-max key=ci status=403" in line and "error=model_not_allowed" in line
        for line in access
    ), access
    assert (
        "GET /v1/models error 401 invalid_api_key: Incorrect API key provided. Ask the "
        "gateway's operator for a valid key."
    ) in lines
    for record in caplog.records:
        assert CI_KEY not in record.getMessage() and OPEN_KEY not in record.getMessage()


# --------------------------------------------------------------------------------- CORS


def preflight(server: ServedGateway, **headers: str) -> httpx.Response:
    sent = {
        "origin": ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-request-id",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    return httpx.options(url(server, "/v1/chat/completions"), headers=sent)


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(
    server: ServedGateway,
) -> None:
    r = preflight(server)
    assert r.status_code == 204 and r.content == b""
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert r.headers["access-control-allow-headers"] == "authorization, content-type, x-request-id"
    assert r.headers["access-control-max-age"] == "600"
    assert "origin" in r.headers["vary"]
    assert "access-control-allow-credentials" not in r.headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"origin": "https://evil.example"},
            "CORS preflight refused: the origin 'https://evil.example' may not call this API "
            "from a browser",
        ),
        (
            {"access_control_request_method": "DELETE"},
            "CORS preflight refused: the method 'DELETE' is not allowed (allowed: GET, POST)",
        ),
        (
            {"access_control_request_headers": "authorization, x-secret, x-other"},
            "CORS preflight refused: the request header(s) x-secret, x-other are not allowed "
            "(allowed: authorization, content-type, x-request-id)",
        ),
    ],
    ids=["origin", "method", "headers"],
)
def test_a_preflight_that_is_not_allowed_is_403(
    server: ServedGateway, headers: dict[str, str], message: str
) -> None:
    r = preflight(server, **headers)
    assert r.status_code == 403
    validate("ErrorResponse", r.json())
    assert r.json()["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": "cors_not_allowed",
    }
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(("key", "status"), [(OPEN_KEY, 200), ("sk-wrong", 401)])
def test_answers_to_an_allowed_origin_carry_cors_headers(
    server: ServedGateway, key: str, status: int
) -> None:
    r = httpx.get(url(server, "/v1/models"), headers={"origin": ORIGIN, **bearer(key)})
    assert r.status_code == status
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-expose-headers"] == "retry-after"
    assert r.headers["vary"] == "origin"


def test_answers_to_another_origin_carry_none(server: ServedGateway) -> None:
    r = httpx.get(
        url(server, "/v1/models"), headers={"origin": "https://evil.example", **bearer(OPEN_KEY)}
    )
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_without_a_cors_block_there_is_no_preflight_and_no_header(gateway: ServedGateway) -> None:
    r = preflight(gateway)
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert not [name for name in r.headers if name.startswith("access-control-")]
    r = httpx.get(url(gateway, "/v1/models"), headers={"origin": ORIGIN})
    assert r.status_code == 200
    assert not [name for name in r.headers if name.startswith("access-control-")]


# ------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    ("content_type", "got"),
    [
        (None, "no Content-Type was sent"),
        ("text/plain", "got 'text/plain'"),
        ("text/plain;charset=UTF-8", "got 'text/plain;charset=UTF-8'"),
        ("application/x-www-form-urlencoded", "got 'application/x-www-form-urlencoded'"),
        ("multipart/form-data; boundary=x", "got 'multipart/form-data; boundary=x'"),
        ("application/jsonp", "got 'application/jsonp'"),
    ],
)
def test_a_body_that_is_not_declared_json_is_415_and_runs_nothing(
    gateway: ServedGateway, content_type: str | None, got: str
) -> None:
    """A browser's "simple request" from a foreign page is refused before anything runs."""
    assert gateway.simulator is not None
    before = len(gateway.simulator.requests)
    headers = {"origin": "https://evil.example"}
    if content_type is not None:
        headers["content-type"] = content_type
    body = json.dumps({"model": "spark-max", **HI}).encode()
    r = httpx.post(url(gateway, "/v1/chat/completions"), content=body, headers=headers)
    assert r.status_code == 415
    validate("ErrorResponse", r.json())
    assert r.json()["error"] == {
        "message": f"the request body must be JSON: send Content-Type: application/json ({got})",
        "type": "invalid_request_error",
        "param": None,
        "code": "unsupported_media_type",
    }
    assert len(gateway.simulator.requests) == before  # no upstream call, no quota spent


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_in_any_spelling_is_accepted(gateway: ServedGateway, content_type: str) -> None:
    body = json.dumps({"model": "spark-max", **HI}).encode()
    r = httpx.post(
        url(gateway, "/v1/chat/completions"), content=body, headers={"content-type": content_type}
    )
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------ body deadline


def test_a_body_that_does_not_arrive_in_time_is_408_and_the_connection_closes(
    server: ServedGateway,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n"
            + f"Authorization: Bearer {OPEN_KEY}\r\n\r\n".encode()
            + b'{"model": "spark-max", '  # and never the rest
        )
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its answer
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {
        "error": {
            "message": "the request body did not arrive within 0.3 s (body_timeout)",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        }
    }


# ----------------------------------------------------------------------------- mounted


def mounted_app(simulator_url: str) -> Any:
    """The secured gateway under /llm in a Starlette app with routes of its own."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def ping(request: Any) -> PlainTextResponse:
        return PlainTextResponse("pong")

    return Starlette(routes=[Route("/ping", ping), Mount("/llm", app=secured(simulator_url))])


@pytest.fixture(scope="module")
def mounted() -> Iterator[ServedGateway]:
    served = ServedGateway(mounted_app).start()
    yield served
    served.stop()


def test_mounted_the_same_checks_apply(mounted: ServedGateway) -> None:
    assert httpx.get(url(mounted, "/ping")).text == "pong"  # the host's own routes are open
    assert httpx.get(url(mounted, "/llm/v1/models")).status_code == 401
    assert httpx.get(url(mounted, "/llm/readyz")).status_code == 200
    with openai.OpenAI(base_url=url(mounted, "/llm/v1"), api_key=CI_KEY, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["spark-lite"]
    r = httpx.options(
        url(mounted, "/llm/v1/chat/completions"),
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ORIGIN
    r = httpx.post(
        url(mounted, "/llm/v1/chat/completions"),
        content=b"{}",
        headers={"content-type": "text/plain", **bearer(OPEN_KEY)},
    )
    assert r.status_code == 415
