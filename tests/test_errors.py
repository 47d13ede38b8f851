"""The error hierarchy and its single encoder."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

from asgi_spark import errors
from asgi_spark.errors import (
    AcquireTimeoutError,
    AuthenticationError,
    ConnectTimeoutError,
    ContentFilterError,
    ContextLengthExceededError,
    FirstFrameTimeoutError,
    GatewayClosedError,
    GatewayDrainingError,
    GatewayError,
    GatewayNotReadyError,
    IdleTimeoutError,
    InternalError,
    InvalidRequestError,
    LimitStoreUnavailableError,
    ModelNotAllowedError,
    ModelNotFoundError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    StructuredOutputError,
    TotalTimeoutError,
    UnsupportedMediaTypeError,
    UnsupportedParameterError,
    UpstreamAuthError,
    UpstreamClosedError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_body,
)

# class, status, type, default code, retryable
TABLE = [
    (GatewayError, 500, "server_error", None, False),
    (InvalidRequestError, 400, "invalid_request_error", None, False),
    (ContextLengthExceededError, 400, "invalid_request_error", "context_length_exceeded", False),
    (ContentFilterError, 400, "invalid_request_error", "content_filter", False),
    (UnsupportedParameterError, 400, "invalid_request_error", "unsupported_parameter", False),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found", False),
    (NotFoundError, 404, "invalid_request_error", "not_found", False),
    (AuthenticationError, 401, "invalid_request_error", "invalid_api_key", False),
    (PermissionDeniedError, 403, "invalid_request_error", None, False),
    (ModelNotAllowedError, 403, "invalid_request_error", "model_not_allowed", False),
    (RequestTimeoutError, 408, "invalid_request_error", "request_timeout", False),
    (UnsupportedMediaTypeError, 415, "invalid_request_error", "unsupported_media_type", False),
    (RateLimitError, 429, "rate_limit_error", "rate_limit_exceeded", True),
    (QuotaExceededError, 429, "insufficient_quota", "insufficient_quota", False),
    (UpstreamError, 502, "upstream_error", "upstream_error", False),
    (UpstreamAuthError, 502, "upstream_error", "upstream_auth_failed", False),
    (UpstreamProtocolError, 502, "upstream_error", "upstream_protocol_error", False),
    (UpstreamClosedError, 502, "upstream_error", "upstream_closed", True),
    (StructuredOutputError, 502, "upstream_error", "structured_output_failed", False),
    (UpstreamUnavailableError, 503, "service_unavailable", "upstream_unavailable", True),
    (UpstreamTimeoutError, 504, "timeout", "upstream_timeout", True),
    (ConnectTimeoutError, 504, "timeout", "upstream_timeout", True),
    (AcquireTimeoutError, 504, "timeout", "upstream_timeout", True),
    (FirstFrameTimeoutError, 504, "timeout", "upstream_timeout", True),
    (IdleTimeoutError, 504, "timeout", "upstream_timeout", True),
    (TotalTimeoutError, 504, "timeout", "upstream_timeout", True),
    (GatewayClosedError, 503, "service_unavailable", "gateway_closed", False),
    (GatewayNotReadyError, 503, "service_unavailable", "gateway_not_ready", False),
    (GatewayDrainingError, 503, "service_unavailable", "gateway_draining", True),
    (LimitStoreUnavailableError, 503, "service_unavailable", "limit_store_unavailable", False),
    (InternalError, 500, "server_error", "internal_error", False),
]


def test_table_covers_every_error_class() -> None:
    classes = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, GatewayError)
    }
    assert classes == {row[0] for row in TABLE}


@pytest.mark.parametrize(("cls", "status", "type_", "code", "retryable"), TABLE)
def test_class_defaults(
    cls: type[GatewayError],
    status: int,
    type_: str,
    code: str | None,
    retryable: bool,
    openapi: ModuleType,
) -> None:
    error = cls("something went wrong")
    assert isinstance(error, Exception)
    assert (error.status, error.type, error.code, error.retryable) == (
        status,
        type_,
        code,
        retryable,
    )
    assert error.message == str(error) == "something went wrong"
    assert error.param is None and error.sid is None and error.upstream_code is None
    body = json.loads(error_body(error))
    openapi.validate("ErrorResponse", body)
    assert body == {
        "error": {"message": "something went wrong", "type": type_, "param": None, "code": code}
    }


def test_overrides_are_per_instance() -> None:
    error = InvalidRequestError(
        "bad",
        param="messages[0].role",
        code="x",
        retryable=True,
        upstream_code=10004,
        sid="cht1",
        status=422,
    )
    assert (
        error.param,
        error.code,
        error.retryable,
        error.upstream_code,
        error.sid,
        error.status,
    ) == ("messages[0].role", "x", True, 10004, "cht1", 422)
    assert InvalidRequestError("other").status == 400  # the class is untouched
    assert json.loads(error_body(error))["error"]["param"] == "messages[0].role"


def test_upstream_error_may_be_marked_retryable() -> None:
    assert UpstreamError("x", retryable=True).retryable
    assert not RateLimitError("x", retryable=False).retryable


def test_hierarchy() -> None:
    for cls in (
        ContextLengthExceededError,
        ContentFilterError,
        UnsupportedParameterError,
        ModelNotFoundError,
        NotFoundError,
        AuthenticationError,
        PermissionDeniedError,
        RequestTimeoutError,
        UnsupportedMediaTypeError,
    ):
        assert issubclass(cls, InvalidRequestError)
    assert issubclass(ModelNotAllowedError, PermissionDeniedError)
    for cls in (
        UpstreamAuthError,
        UpstreamProtocolError,
        UpstreamClosedError,
        UpstreamUnavailableError,
        UpstreamTimeoutError,
    ):
        assert issubclass(cls, UpstreamError)
    assert issubclass(QuotaExceededError, RateLimitError)


def test_repr_is_short_and_names_the_code() -> None:
    assert (
        repr(ContentFilterError("filtered"))
        == "ContentFilterError('filtered', code='content_filter')"
    )


def test_error_body_escapes_and_keeps_unicode(openapi: ModuleType) -> None:
    error = UpstreamError('上游说 "不" \n and \\ more')
    body = error_body(error)
    assert b"\n" not in body  # one SSE data line
    parsed = json.loads(body)
    openapi.validate("ErrorResponse", parsed)
    assert parsed["error"]["message"] == '上游说 "不" \n and \\ more'


def test_headers_of_a_class() -> None:
    assert AuthenticationError("x").headers == (
        (b"www-authenticate", b'Bearer realm="asgi-spark"'),
    )
    assert RequestTimeoutError("x").headers == ((b"connection", b"close"),)
    with_headers = (AuthenticationError, RequestTimeoutError)
    assert all(not row[0]("x").headers for row in TABLE if row[0] not in with_headers)
