"""One error hierarchy for the whole gateway, encoded to OpenAI error bodies in one place.

The tree (HTTP status, OpenAI ``type``, default ``code``; * = retryable by default)::

    GatewayError                       500 server_error
    ├── InvalidRequestError            400 invalid_request_error
    │   ├── ContextLengthExceededError 400 context_length_exceeded
    │   ├── ContentFilterError         400 content_filter
    │   ├── UnsupportedParameterError  400 unsupported_parameter
    │   ├── ModelNotFoundError         404 model_not_found
    │   ├── NotFoundError              404 not_found
    │   ├── AuthenticationError        401 invalid_api_key (with ``WWW-Authenticate: Bearer``)
    │   ├── PermissionDeniedError      403 (``code`` says what: ``cors_not_allowed``)
    │   │   └── ModelNotAllowedError   403 model_not_allowed
    │   ├── RequestTimeoutError        408 request_timeout (with ``Connection: close``)
    │   └── UnsupportedMediaTypeError  415 unsupported_media_type
    ├── RateLimitError               * 429 rate_limit_error / rate_limit_exceeded
    │   ├── QuotaExceededError         429 insufficient_quota
    │   └── LimitExceeded (limits)   * 429 rate_limit_exceeded, with ``retry_after``
    ├── UpstreamError                  502 upstream_error
    │   ├── UpstreamAuthError          502 upstream_auth_failed
    │   ├── UpstreamProtocolError      502 upstream_protocol_error
    │   ├── UpstreamClosedError      * 502 upstream_closed
    │   ├── StructuredOutputError      502 structured_output_failed
    │   ├── UpstreamUnavailableError * 503 service_unavailable / upstream_unavailable
    │   └── UpstreamTimeoutError     * 504 timeout / upstream_timeout
    │       └── ConnectTimeoutError, AcquireTimeoutError, FirstFrameTimeoutError,
    │           IdleTimeoutError, TotalTimeoutError (``phase`` names the deadline)
    ├── GatewayClosedError             503 service_unavailable / gateway_closed
    │   └── GatewayDrainingError     * 503 service_unavailable / gateway_draining
    ├── GatewayNotReadyError           503 service_unavailable / gateway_not_ready
    ├── LimitStoreUnavailableError     503 service_unavailable / limit_store_unavailable
    └── InternalError                  500 internal_error
        └── ContractViolation (events)  500 adapter_contract_violation

Every class knows its HTTP status, OpenAI ``type`` and default ``code``, and whether retrying
the same request may succeed.  :func:`error_body` is the only encoder.  Messages must never
contain secrets: callers pass upstream words through
:func:`asgi_spark.secrets.redact_upstream` first (known secrets and signed queries removed).
"""

from __future__ import annotations

from typing import ClassVar, Final

import msgspec


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status: int = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None
    default_retryable: ClassVar[bool] = False
    #: Response headers every error of the class carries (``Retry-After`` is per instance).
    headers: ClassVar[tuple[tuple[bytes, bytes], ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        upstream_code: int | None = None,
        sid: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retryable = self.default_retryable if retryable is None else retryable
        self.upstream_code = upstream_code
        self.sid = sid
        #: Seconds after which trying again makes sense (a ``Retry-After`` header upstream, or
        #: a limiter's estimate); sent to the client as ``Retry-After``.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"

    def detail(self) -> ErrorDetail:
        return ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code)


# ----------------------------------------------------------------------------- client side


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceededError(InvalidRequestError):
    default_code = "context_length_exceeded"


class ContentFilterError(InvalidRequestError):
    default_code = "content_filter"


class UnsupportedParameterError(InvalidRequestError):
    default_code = "unsupported_parameter"


class ModelNotFoundError(InvalidRequestError):
    status = 404
    default_code = "model_not_found"


class NotFoundError(InvalidRequestError):
    status = 404
    default_code = "not_found"


class AuthenticationError(InvalidRequestError):
    """No client key, or not one of ``api_keys`` (OpenAI's own 401 body)."""

    status = 401
    default_code = "invalid_api_key"
    headers = ((b"www-authenticate", b'Bearer realm="asgi-spark"'),)


class PermissionDeniedError(InvalidRequestError):
    """The request is understood and refused (a CORS preflight from an origin not allowed)."""

    status = 403


class ModelNotAllowedError(PermissionDeniedError):
    """The client's key may not use the model."""

    default_code = "model_not_allowed"


class RequestTimeoutError(InvalidRequestError):
    """The client did not send its request in time (``body_timeout``, ``header_timeout``);
    the server closes the connection after the answer."""

    status = 408
    default_code = "request_timeout"
    headers = ((b"connection", b"close"),)


class UnsupportedMediaTypeError(InvalidRequestError):
    """A body that is not declared ``application/json``."""

    status = 415
    default_code = "unsupported_media_type"


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    default_retryable = True


class QuotaExceededError(RateLimitError):
    type = "insufficient_quota"
    default_code = "insufficient_quota"
    default_retryable = False


# ---------------------------------------------------------------------------- upstream side


class UpstreamError(GatewayError):
    """The upstream failed in a way the client cannot fix."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"


class UpstreamAuthError(UpstreamError):
    """The gateway's own Spark credentials or grants were rejected: an operator problem."""

    default_code = "upstream_auth_failed"


class UpstreamProtocolError(UpstreamError):
    """Upstream sent something that does not follow the protocol."""

    default_code = "upstream_protocol_error"


class UpstreamClosedError(UpstreamError):
    """Upstream closed the connection before the answer was complete."""

    default_code = "upstream_closed"
    default_retryable = True


class StructuredOutputError(UpstreamError):
    """The model's answers did not fit the structured output or forced tool choice asked for."""

    default_code = "structured_output_failed"


class UpstreamUnavailableError(UpstreamError):
    status = 503
    type = "service_unavailable"
    default_code = "upstream_unavailable"
    default_retryable = True


class UpstreamTimeoutError(UpstreamError):
    """A deadline passed.  The subclasses name the phase (httpx-style); the public ``code`` is
    the same for all, the phase goes to the log and metrics."""

    status = 504
    type = "timeout"
    default_code = "upstream_timeout"
    default_retryable = True
    #: Which deadline passed (``None``: the upstream itself reported a timeout).
    phase: ClassVar[str | None] = None


class ConnectTimeoutError(UpstreamTimeoutError):
    """TCP connect, TLS and the WebSocket handshake took longer than ``timeouts.connect``."""

    phase = "connect"


class AcquireTimeoutError(UpstreamTimeoutError):
    """No pooled connection became free within ``timeouts.acquire``."""

    phase = "acquire"


class FirstFrameTimeoutError(UpstreamTimeoutError):
    """No frame within ``timeouts.first_frame`` after the request was sent."""

    phase = "first_frame"


class IdleTimeoutError(UpstreamTimeoutError):
    """No frame within ``timeouts.idle`` after the previous one."""

    phase = "idle"


class TotalTimeoutError(UpstreamTimeoutError):
    """The whole exchange took longer than ``timeouts.total``."""

    phase = "total"


class GatewayClosedError(GatewayError):
    """The gateway was closed (``aclose()``); it does not start again by itself."""

    status = 503
    type = "service_unavailable"
    default_code = "gateway_closed"


class GatewayNotReadyError(GatewayError):
    """The gateway's runtime is not running (``/readyz``): not started yet or failed to."""

    status = 503
    type = "service_unavailable"
    default_code = "gateway_not_ready"


class GatewayDrainingError(GatewayClosedError):
    """The gateway is shutting down (:meth:`~asgi_spark.gateway.Gateway.drain`): it takes no
    new request, or it ended one still running at the drain's timeout.  Another instance can
    answer the same request."""

    default_code = "gateway_draining"
    default_retryable = True


class LimitStoreUnavailableError(GatewayError):
    """The shared limits' store (Redis) cannot be reached and ``limits.on_unavailable`` is
    ``fail_closed``."""

    status = 503
    type = "service_unavailable"
    default_code = "limit_store_unavailable"


class InternalError(GatewayError):
    status = 500
    type = "server_error"
    default_code = "internal_error"


# --------------------------------------------------------------------------------- encoding

_encoder: Final = msgspec.json.Encoder()


def error_body(error: GatewayError) -> bytes:
    """The OpenAI ``ErrorResponse`` JSON for ``error``: the one place errors are encoded."""
    return _encoder.encode(ErrorBody(error=error.detail()))
