"""Refused WebSocket handshakes → gateway errors: one table, extended by each vendor's.

A refusal is an HTTP answer other than 101.  :data:`GENERIC_RULES` says what a status means for
any upstream (credentials refused, no such path, rate limited, unavailable); a vendor puts its
own, more specific rows (matched on status and a needle in the body's message) in front of it
(Spark: :data:`asgi_spark.adapters.spark.codes.HANDSHAKE_RULES`).  The first matching row wins;
a status no row names is ``upstream_unavailable`` from 500 on and ``upstream_error`` below.

The body is upstream's (or a proxy's) words: :func:`body_message` redacts every signed query
from it (a proxy may quote the request target, ``authorization=`` and all), and the adapter
redacts its own credentials before the words reach the error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..errors import (
    GatewayError,
    RateLimitError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamUnavailableError,
)
from ..secrets import redact_upstream


@dataclass(frozen=True, slots=True)
class HandshakeRule:
    status: int
    needle: str  # lower case; "" matches any message
    cls: type[GatewayError]
    meaning: str


GENERIC_RULES: Final[tuple[HandshakeRule, ...]] = (
    HandshakeRule(401, "", UpstreamAuthError, "upstream refused the gateway's credentials"),
    HandshakeRule(403, "", UpstreamAuthError, "upstream refused the gateway's credentials"),
    HandshakeRule(404, "", UpstreamError, "upstream has no endpoint at the configured path"),
    HandshakeRule(429, "", RateLimitError, "upstream is rate limiting the gateway"),
)


def refusal_error(
    status: int,
    message: str,
    rules: Sequence[HandshakeRule] = GENERIC_RULES,
    *,
    upstream: str = "upstream",
) -> GatewayError:
    """The error for a handshake answered with HTTP ``status`` and body message ``message``."""
    lowered = message.lower()
    for rule in rules:
        if rule.status == status and rule.needle in lowered:
            return rule.cls(f"{rule.meaning} (HTTP {status}: {message})")
    if status >= 500:
        return UpstreamUnavailableError(f"{upstream} is unavailable (HTTP {status}: {message})")
    return UpstreamError(f"{upstream} refused the connection (HTTP {status}: {message})")


def body_message(body: bytes) -> str:
    """The ``message`` of a JSON error body, else the body's text (cut at 500 characters),
    with every signed query redacted (:func:`~asgi_spark.secrets.redact_upstream`)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return _shown(text) or "(empty body)"
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return _shown(str(parsed["message"]))
    return _shown(text)


def _shown(text: str, limit: int = 500) -> str:
    """``text`` redacted, then cut at ``limit`` characters (a cut never leaves half a secret)."""
    return redact_upstream(text)[:limit]


__all__ = ["GENERIC_RULES", "HandshakeRule", "body_message", "refusal_error"]
