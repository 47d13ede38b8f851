"""Spark failures → gateway errors: in-frame codes (spec 5.2) and handshake refusals (5.1)."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from asgi_spark.adapters.spark import codes
from asgi_spark.adapters.spark.codes import frame_error, handshake_error
from asgi_spark.errors import (
    ContentFilterError,
    ContextLengthExceededError,
    GatewayError,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_body,
)
from asgi_spark.secrets import Secret

SID = "cht000b0c24@dx1916602ea10b808550"

BAD = (InvalidRequestError, 400, "invalid_request_error", None, False)
FILTER = (ContentFilterError, 400, "invalid_request_error", "content_filter", False)
RATE = (RateLimitError, 429, "rate_limit_error", "rate_limit_exceeded", True)
QUOTA = (QuotaExceededError, 429, "insufficient_quota", "insufficient_quota", False)
AUTH = (UpstreamAuthError, 502, "upstream_error", "upstream_auth_failed", False)
BUSY = (UpstreamUnavailableError, 503, "service_unavailable", "upstream_unavailable", True)
TIMEOUT = (UpstreamTimeoutError, 504, "timeout", "upstream_timeout", True)
UPSTREAM = (UpstreamError, 502, "upstream_error", "upstream_error", None)  # retryable varies

#: Every code of spec 5.2 with (class, status, type, code, retryable) as documented in codes.py.
EXPECTED = {
    10000: UPSTREAM,
    10001: BAD,
    10002: UPSTREAM,
    10003: BAD,
    10004: BAD,
    10005: BAD,
    10006: RATE,
    10007: RATE,
    10008: BUSY,
    10009: UPSTREAM,
    10010: UPSTREAM,
    10011: UPSTREAM,
    10012: UPSTREAM,
    10013: FILTER,
    10014: FILTER,
    10015: AUTH,
    10016: AUTH,
    10017: UPSTREAM,
    10018: UPSTREAM,
    10019: FILTER,
    10021: FILTER,
    10110: BUSY,
    10160: BAD,
    10161: BAD,
    10163: BAD,
    10165: BAD,
    10222: UPSTREAM,
    10223: BUSY,
    10313: AUTH,
    10114: TIMEOUT,
    10907: (
        ContextLengthExceededError,
        400,
        "invalid_request_error",
        "context_length_exceeded",
        False,
    ),
    11200: AUTH,  # domain.* (see the tokens.total test for the quota case)
    11201: QUOTA,
    11202: RATE,
    11203: RATE,
}


def test_every_spec_code_has_a_rule() -> None:
    assert set(codes.FRAME_CODES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_frame_code_mapping(code: int, openapi: ModuleType) -> None:
    cls, status, type_, err_code, retryable = EXPECTED[code]
    message = f"SomeError:(23:02:32.721) upstream detail for {code}"
    error = frame_error(code, message, SID)
    assert type(error) is cls
    assert error.status == status
    assert error.type == type_
    assert error.code == err_code
    if retryable is not None:
        assert error.retryable is retryable
    assert error.upstream_code == code
    assert error.sid == SID
    # upstream's words, the code and the sid are all in the message
    assert message in error.message
    assert str(code) in error.message
    assert SID in error.message
    body = json.loads(error_body(error))
    openapi.validate("ErrorResponse", body)
    assert body["error"]["code"] == err_code
    assert body["error"]["type"] == type_


def test_server_side_faults_that_may_pass_are_retryable() -> None:
    for code in (10000, 10002, 10009, 10010, 10011, 10012, 10222):
        assert frame_error(code, "x", SID).retryable, code
    for code in (10017, 10018):
        assert not frame_error(code, "x", SID).retryable, code


def test_bad_request_examples_from_the_field() -> None:
    error = frame_error(10003, "ClientMsgError:(23:02:32.721) invalid model domain", SID)
    assert error.status == 400
    assert error.message.endswith("ClientMsgError:(23:02:32.721) invalid model domain")
    uid = "SchemaCheckError:(16:12:01.100) '$.header.uid' length must be less or equal than 32;"
    assert frame_error(10004, uid, SID).message.endswith(uid)


def test_11200_tokens_total_is_quota() -> None:
    error = frame_error(11200, "AppIdNoAuthError:(12:00:00.000) tokens.total", SID)
    assert type(error) is QuotaExceededError
    assert (error.status, error.type, error.code) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert not error.retryable
    assert "tokens.total" in error.message


def test_11200_domain_is_an_auth_problem_with_a_hint() -> None:
    error = frame_error(11200, "AppIdNoAuthError:(12:00:00.000) domain.generalv3", SID)
    assert type(error) is UpstreamAuthError
    assert (error.status, error.code) == (502, "upstream_auth_failed")
    assert "domain.generalv3" in error.message
    assert "api_version" in error.message or "domain" in error.message


@pytest.mark.parametrize("code", [1, 999, 10020, 12345, 99999, -5, 2**40])
def test_unknown_code_is_502(code: int) -> None:
    error = frame_error(code, "something new", SID)
    assert type(error) is UpstreamError
    assert error.status == 502
    assert error.code == "upstream_error"
    assert "something new" in error.message and str(code) in error.message
    assert error.upstream_code == code


def test_without_sid_and_message() -> None:
    error = frame_error(10013, "", "")
    assert error.sid is None
    assert "sid" not in error.message
    assert "10013" in error.message
    assert not error.message.endswith((":", " "))


def test_secrets_are_redacted() -> None:
    app_id = Secret("4f1a2b3c")
    api_key = Secret("addd2272b6d8b7c8abdd79531420ca3b")
    message = "AppIdNoAuthError: app_id 4f1a2b3c and api_key addd2272b6d8b7c8abdd79531420ca3b"
    error = frame_error(10313, message, SID, secrets=(app_id, api_key))
    assert "4f1a2b3c" not in error.message
    assert "addd2272b6d8b7c8abdd79531420ca3b" not in error.message
    assert "app_id **** and api_key ****" in error.message
    assert SID in error.message


def test_rule_for() -> None:
    assert codes.rule_for(11200, "domain.generalv3").cls is UpstreamAuthError
    assert codes.rule_for(11200, "tokens.total").cls is QuotaExceededError
    assert codes.rule_for(424242).cls is UpstreamError


# ----------------------------------------------------------------------------- handshake

CLOCK_SKEW = (
    "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC "
    "Authentication"
)


@pytest.mark.parametrize(
    ("status", "message", "cause"),
    [
        (401, "Unauthorized", "unauthorised"),
        (401, "HMAC signature cannot be verified", "could not be parsed"),
        (401, "HMAC signature cannot be verified: fail to retrieve credential", "unknown API key"),
        (401, "HMAC signature does not match", "signature mismatch"),
        (
            401,
            "HMAC signature does not match, a valid date or x-date header is required",
            "signature mismatch",
        ),
        (403, CLOCK_SKEW, "clock skew"),
        (403, "Your IP address is not allowed", "IP address"),
        (403, "Forbidden", "forbidden"),
    ],
)
def test_handshake_refusals_are_auth_failures(
    status: int, message: str, cause: str, openapi: ModuleType
) -> None:
    error = handshake_error(status, message)
    assert type(error) is UpstreamAuthError
    assert error.status == 502
    assert error.code == "upstream_auth_failed"
    assert error.type == "upstream_error"
    assert cause in error.message
    assert message in error.message
    assert f"HTTP {status}" in error.message
    openapi.validate("ErrorResponse", json.loads(error_body(error)))


def test_handshake_causes_are_distinct() -> None:
    messages = {
        handshake_error(
            401, "HMAC signature cannot be verified: fail to retrieve credential"
        ).message,
        handshake_error(401, "HMAC signature does not match").message,
        handshake_error(401, "HMAC signature cannot be verified").message,
        handshake_error(403, CLOCK_SKEW).message,
        handshake_error(403, "Your IP address is not allowed").message,
        handshake_error(401, "Unauthorized").message,
    }
    assert len(messages) == 6


def test_handshake_matching_ignores_case() -> None:
    error = handshake_error(401, "hmac SIGNATURE DOES NOT MATCH")
    assert "signature mismatch" in error.message


def test_handshake_404() -> None:
    error = handshake_error(404, "no Route matched with those values")
    assert type(error) is UpstreamError
    assert (error.status, error.code) == (502, "upstream_error")
    assert "endpoint" in error.message and "no Route matched" in error.message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_handshake_5xx_is_unavailable(status: int) -> None:
    error = handshake_error(status, "An invalid response was received from the upstream server")
    assert type(error) is UpstreamUnavailableError
    assert (error.status, error.code) == (503, "upstream_unavailable")
    assert error.retryable
    assert f"HTTP {status}" in error.message


def test_handshake_429_and_other_statuses() -> None:
    limited = handshake_error(429, "API rate limit exceeded")
    assert type(limited) is RateLimitError and limited.status == 429 and limited.retryable
    other = handshake_error(418, "teapot")
    assert type(other) is UpstreamError
    assert other.status == 502
    assert "HTTP 418: teapot" in other.message


def test_every_mapped_error_is_a_gateway_error() -> None:
    for rule in codes.FRAME_CODES.values():
        assert issubclass(rule.cls, GatewayError)
    for hrule in codes.HANDSHAKE_RULES:
        assert issubclass(hrule.cls, GatewayError)
