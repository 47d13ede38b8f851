"""Spark failures → gateway errors: the in-frame ``header.code`` table (spec 5.2) and the
handshake table (spec 5.1).  Data, not branches; upstream's own words and ``sid`` are kept.

Mapping (documented in the README's error table):

* bad request (10001, 10003-10005, 10160-10165) → 400 ``invalid_request_error``;
  10907 → 400 ``context_length_exceeded``
* moderation (10013, 10014, 10019, 10021) → 400 ``content_filter``
* rate limits (10006, 10007, 11202, 11203) → 429 ``rate_limit_exceeded`` (retryable);
  quota (11200 ``tokens.total``, 11201) → 429 ``insufficient_quota``
* the gateway's credentials or grants (handshake 401/403, 10015, 10016, 10313,
  11200 ``domain.*``) → 502 ``upstream_auth_failed`` with the likely cause
* capacity (10008, 10110, 10223) → 503 ``upstream_unavailable`` (retryable)
* session timeout (10114) → 504; every other upstream fault → 502 ``upstream_error``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ...errors import (
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
)
from ...secrets import Secret, redact
from ..handshake import GENERIC_RULES, HandshakeRule, refusal_error


@dataclass(frozen=True, slots=True)
class Rule:
    cls: type[GatewayError]
    meaning: str
    retryable: bool | None = None


_BAD = InvalidRequestError
_AUTH_HINT = "the gateway's Spark credentials were rejected"

#: Every in-frame code of spec section 5.2.
FRAME_CODES: Final[dict[int, Rule]] = {
    10000: Rule(UpstreamError, "upstream failed to upgrade the connection", True),
    10001: Rule(_BAD, "upstream could not read the request frame"),
    10002: Rule(UpstreamError, "upstream failed to send its answer", True),
    10003: Rule(_BAD, "request rejected by Spark (message format)"),
    10004: Rule(_BAD, "request rejected by Spark (schema check)"),
    10005: Rule(_BAD, "request rejected by Spark (parameter value)"),
    10006: Rule(RateLimitError, "the same Spark user is already connected elsewhere"),
    10007: Rule(RateLimitError, "Spark is still answering a previous question for this user"),
    10008: Rule(UpstreamUnavailableError, "Spark has no capacity right now"),
    10009: Rule(UpstreamError, "Spark could not reach its engine", True),
    10010: Rule(UpstreamError, "Spark failed receiving engine data", True),
    10011: Rule(UpstreamError, "Spark failed sending data to its engine", True),
    10012: Rule(UpstreamError, "Spark engine internal error", True),
    10013: Rule(ContentFilterError, "the input was rejected by Spark's content moderation"),
    10014: Rule(ContentFilterError, "the output was stopped by Spark's content moderation"),
    10015: Rule(UpstreamAuthError, f"{_AUTH_HINT}: the app id is blacklisted"),
    10016: Rule(
        UpstreamAuthError,
        f"{_AUTH_HINT}: the app is not authorised for this model or its grant is exhausted",
    ),
    10017: Rule(UpstreamError, "Spark failed clearing history"),
    10018: Rule(UpstreamError, "Spark closed an idle session"),
    10019: Rule(ContentFilterError, "the conversation was flagged by Spark's content moderation"),
    10021: Rule(ContentFilterError, "the input failed Spark's content audit"),
    10110: Rule(UpstreamUnavailableError, "Spark is busy"),
    10114: Rule(UpstreamTimeoutError, "Spark timed out the session"),
    10160: Rule(_BAD, "Spark could not parse the request as JSON"),
    10161: Rule(_BAD, "Spark could not decode base64 data in the request"),
    10163: Rule(_BAD, "request rejected by Spark (engine parameter check)"),
    10165: Rule(_BAD, "request rejected by Spark (invalid frame order)"),
    10222: Rule(UpstreamError, "Spark engine network error", True),
    10223: Rule(UpstreamUnavailableError, "Spark found no engine node for this model"),
    10313: Rule(
        UpstreamAuthError, f"{_AUTH_HINT}: the app id is empty or does not belong to the API key"
    ),
    10907: Rule(
        ContextLengthExceededError, "the conversation is longer than the model's context window"
    ),
    11200: Rule(
        UpstreamAuthError,
        f"{_AUTH_HINT}: the app has no grant for this model (check api_version/domain)",
    ),
    11201: Rule(QuotaExceededError, "the app's daily Spark quota is used up"),
    11202: Rule(RateLimitError, "the app's Spark QPS limit was exceeded"),
    11203: Rule(RateLimitError, "the app's Spark concurrency limit was exceeded"),
}

_TOKENS_RULE: Final = Rule(
    QuotaExceededError, "the app's Spark token quota is used up or not claimed (11200 tokens.total)"
)
_UNKNOWN_RULE: Final = Rule(UpstreamError, "unknown Spark error")


def rule_for(code: int, message: str = "") -> Rule:
    if code == 11200 and "tokens.total" in message:
        return _TOKENS_RULE
    return FRAME_CODES.get(code, _UNKNOWN_RULE)


def frame_error(
    code: int, message: str, sid: str, *, secrets: tuple[Secret, ...] = ()
) -> GatewayError:
    """The gateway error for an error frame ``{"header": {"code": code, "message": message}}``."""
    rule = rule_for(code, message)
    words = redact(message, *secrets) if secrets else message
    sid_part = f", sid {sid}" if sid else ""
    head = f"{rule.meaning} (Spark {code}{sid_part})"
    text = f"{head}: {words}" if words.strip() else head
    return rule.cls(text, retryable=rule.retryable, upstream_code=code, sid=sid or None)


# --------------------------------------------------------------------------- handshake


#: Handshake refusals (spec 5.1), most specific first; matched on status and message text.
HANDSHAKE_RULES: Final[tuple[HandshakeRule, ...]] = (
    HandshakeRule(
        403,
        "valid date",
        UpstreamAuthError,
        f"{_AUTH_HINT}: clock skew, the gateway's clock differs from Spark's by "
        "more than 300 s (sync it with NTP)",
    ),
    HandshakeRule(
        403,
        "ip address",
        UpstreamAuthError,
        f"{_AUTH_HINT}: the gateway's IP address is not on the app's whitelist",
    ),
    HandshakeRule(
        401,
        "fail to retrieve credential",
        UpstreamAuthError,
        f"{_AUTH_HINT}: unknown API key (check api_key)",
    ),
    HandshakeRule(
        401,
        "does not match",
        UpstreamAuthError,
        f"{_AUTH_HINT}: signature mismatch (check api_secret, and that api_key and "
        "api_secret are not swapped)",
    ),
    HandshakeRule(
        401,
        "cannot be verified",
        UpstreamAuthError,
        f"{_AUTH_HINT}: the signature could not be parsed",
    ),
    HandshakeRule(401, "", UpstreamAuthError, f"{_AUTH_HINT}: unauthorised"),
    HandshakeRule(403, "", UpstreamAuthError, f"{_AUTH_HINT}: forbidden"),
    HandshakeRule(
        404,
        "",
        UpstreamError,
        "Spark has no endpoint at this path (check base_url, endpoint and api_version)",
    ),
    HandshakeRule(429, "", RateLimitError, "Spark is rate limiting the gateway"),
    *GENERIC_RULES,
)


def handshake_error(status: int, message: str) -> GatewayError:
    """The gateway error for a handshake answered with HTTP ``status`` and body ``message``."""
    return refusal_error(status, message, HANDSHAKE_RULES, upstream="Spark")
