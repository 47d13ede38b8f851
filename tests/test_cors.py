"""The CORS policy (asgi_spark/cors.py) without sockets; the routes are tested end to end in
tests/e2e/test_security.py."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import Headers

from asgi_spark import cors
from asgi_spark.config import CorsSettings
from asgi_spark.errors import PermissionDeniedError

ANY = CorsSettings(allow_origins=["*"], allow_headers=["*"], max_age=30)
ONE = CorsSettings(allow_origins=["https://app.example.com"])


def headers(**values: str) -> Headers:
    return Headers(headers={name.replace("_", "-"): value for name, value in values.items()})


def test_what_a_preflight_is() -> None:
    both = headers(origin="https://a", access_control_request_method="POST")
    assert cors.is_preflight({"method": "OPTIONS"}, both)
    assert not cors.is_preflight({"method": "POST"}, both)
    assert not cors.is_preflight({"method": "OPTIONS"}, headers(origin="https://a"))


def test_any_origin_and_any_header() -> None:
    answer = dict(
        cors.preflight_headers(
            ANY,
            headers(
                origin="https://whatever.example",
                access_control_request_method="GET",
                access_control_request_headers="X-Stainless-Lang, x-stainless-os",
            ),
        )
    )
    assert answer[b"access-control-allow-origin"] == b"*"
    assert answer[b"access-control-allow-headers"] == b"x-stainless-lang, x-stainless-os"
    assert answer[b"access-control-max-age"] == b"30"


def test_origins_compare_without_case_and_echo_as_sent() -> None:
    assert cors.allowed_origin(ONE, "https://APP.example.com") == b"https://APP.example.com"
    assert cors.allowed_origin(ONE, "https://app.example.com:443") is None  # another origin
    assert cors.allowed_origin(ONE, "null") is None
    assert cors.allowed_origin(ONE, None) is None


def test_no_requested_headers_names_the_always_allowed_ones() -> None:
    answer = dict(
        cors.preflight_headers(
            ONE, headers(origin="https://app.example.com", access_control_request_method="POST")
        )
    )
    assert answer[b"access-control-allow-headers"] == b"authorization, content-type"


def test_a_refusal_is_a_403_with_its_own_code() -> None:
    with pytest.raises(PermissionDeniedError) as info:
        cors.preflight_headers(
            ONE, headers(origin="https://b", access_control_request_method="GET")
        )
    assert (info.value.status, info.value.code) == (403, "cors_not_allowed")


async def test_headers_are_added_to_the_response_start_only() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    wrapped = cors.with_cors(ONE, headers(origin="https://app.example.com"), send)
    await wrapped({"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]})
    await wrapped({"type": "http.response.body", "body": b"x"})
    assert sent[0]["headers"] == [
        (b"a", b"1"),
        (b"vary", b"origin"),
        (b"access-control-allow-origin", b"https://app.example.com"),
        (b"access-control-expose-headers", b"retry-after"),
    ]
    assert sent[1] == {"type": "http.response.body", "body": b"x"}
