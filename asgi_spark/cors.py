"""CORS for browser clients, opt-in: the top-level ``cors`` block of the configuration.

Without the block the gateway sends no CORS header and answers no preflight: a page on another
origin can read no answer, a request that needs a preflight is never sent by the browser, and
the "simple" requests a page may send without one are refused by the POST routes' content type
check (``application/json`` only: :func:`asgi_spark.request_body.require_json`), so a foreign
page cannot spend the operator's quota.

With the block (:class:`~asgi_spark.config.CorsSettings`):

* a **preflight** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
  answered without a key: ``204`` with ``Access-Control-Allow-Origin``, ``-Allow-Methods``
  (``GET, POST``), ``-Allow-Headers`` and ``-Max-Age`` when the origin, the method and every
  requested header are allowed, else a ``403 cors_not_allowed`` naming what is not;
* every other response to an allowed origin, errors included, carries
  ``Access-Control-Allow-Origin`` (the origin, or ``*`` when any is allowed),
  ``Access-Control-Expose-Headers: Retry-After`` and ``Vary: Origin``.  A request from an
  origin not allowed is answered without them (the browser hides the answer).

``authorization`` and ``content-type`` are always allowed request headers (the API cannot be
called without them); ``allow_headers`` adds others, ``"*"`` any.  Credentials (cookies) are
never allowed: clients authenticate with a key.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import Headers
from starlette.types import Message, Scope, Send

from .config.security import CorsSettings
from .errors import PermissionDeniedError

METHODS: Final = ("GET", "POST")
ALWAYS_ALLOWED: Final = frozenset({"authorization", "content-type"})
EXPOSED: Final = b"retry-after"


def is_preflight(scope: Scope, headers: Headers) -> bool:
    return (
        scope["method"] == "OPTIONS"
        and "origin" in headers
        and "access-control-request-method" in headers
    )


def allowed_origin(settings: CorsSettings, origin: str | None) -> bytes | None:
    """What ``Access-Control-Allow-Origin`` says for ``origin``, or ``None`` (not allowed)."""
    if origin is None:
        return None
    if "*" in settings.allow_origins:
        return b"*"
    if origin.lower() in settings.allow_origins:
        return origin.encode("latin-1")
    return None


def preflight_headers(settings: CorsSettings, headers: Headers) -> list[tuple[bytes, bytes]]:
    """The answer's headers for an allowed preflight; :class:`PermissionDeniedError` (403
    ``cors_not_allowed``) naming the origin, method or header that is not allowed."""
    origin = headers["origin"]
    allow = allowed_origin(settings, origin)
    if allow is None:
        raise _refused(f"the origin {origin!r} may not call this API from a browser")
    method = headers["access-control-request-method"]
    if method not in METHODS:
        raise _refused(f"the method {method!r} is not allowed (allowed: {', '.join(METHODS)})")
    requested = [
        name.strip().lower()
        for name in headers.get("access-control-request-headers", "").split(",")
        if name.strip()
    ]
    if "*" not in settings.allow_headers:
        permitted = ALWAYS_ALLOWED.union(settings.allow_headers)
        refused = [name for name in requested if name not in permitted]
        if refused:
            raise _refused(
                f"the request header(s) {', '.join(refused)} are not allowed (allowed: "
                f"{', '.join(sorted(permitted))})"
            )
    return [
        (b"access-control-allow-origin", allow),
        (b"access-control-allow-methods", ", ".join(METHODS).encode()),
        (b"access-control-allow-headers", ", ".join(requested or sorted(ALWAYS_ALLOWED)).encode()),
        (b"access-control-max-age", str(settings.max_age).encode()),
        (b"vary", b"origin, access-control-request-method, access-control-request-headers"),
    ]


def with_cors(settings: CorsSettings, headers: Headers, send: Send) -> Send:
    """``send`` whose response start carries the CORS headers, when the origin is allowed."""
    allow = allowed_origin(settings, headers.get("origin"))
    extra = [(b"vary", b"origin")]
    if allow is not None:
        extra += [
            (b"access-control-allow-origin", allow),
            (b"access-control-expose-headers", EXPOSED),
        ]

    async def send_with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_cors


def _refused(reason: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"CORS preflight refused: {reason}", code="cors_not_allowed")


__all__ = [
    "ALWAYS_ALLOWED",
    "METHODS",
    "allowed_origin",
    "is_preflight",
    "preflight_headers",
    "with_cors",
]
