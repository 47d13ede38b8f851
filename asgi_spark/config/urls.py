"""Checks of the URLs and paths in a model entry: ``base_url``, ``endpoint`` and ``proxy``.

Each raises :class:`ValueError` (or returns the problem) in words that never repeat the URL, so
a password inside one cannot reach a message.
"""

from __future__ import annotations

import importlib.util
from urllib.parse import SplitResult, urlsplit

from .schema import PROXY_SCHEMES


def normalise_base_url(url: str) -> str:
    """``url`` without trailing slashes, or :class:`ValueError` unless it is a ws(s):// URL."""
    text = url.strip()
    parts = _split(text)
    if parts.scheme.lower() not in ("ws", "wss"):
        got = _got_scheme(text, parts)
        hint = (
            "; the Spark chat API is WebSocket, e.g. wss://spark-api.xf-yun.com"
            if parts.scheme.lower() in ("http", "https")
            else ""
        )
        raise ValueError(f"must be a wss:// or ws:// URL, but {got}{hint}")
    if not parts.hostname:
        raise ValueError("has no host name (expected e.g. wss://spark-api.xf-yun.com)")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment; put the path in 'endpoint'")
    return text.rstrip("/")


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a usable URL path, or ``None`` when it is."""
    if not endpoint.startswith("/"):
        return "must be a URL path starting with '/', e.g. '/v3.5/chat'"
    if any(char in endpoint for char in "?# \t\r\n"):
        return "must be a plain URL path (no query, fragment or whitespace)"
    return None


def normalise_proxy(proxy: str) -> str:
    """``"auto"`` or a proxy URL without trailing slash, or :class:`ValueError` saying why not.

    A SOCKS proxy needs the ``python-socks`` package (``websockets`` connects through it), so
    its absence is reported here rather than at the first request.
    """
    text = proxy.strip()
    if text.lower() == "auto":
        return "auto"
    schemes = ", ".join(f"{scheme}://" for scheme in PROXY_SCHEMES)
    parts = _split(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        got = _got_scheme(text, parts)
        raise ValueError(
            f'must be "auto" (follow the proxy environment variables), null (no proxy) or a '
            f"proxy URL ({schemes}), but {got}"
        )
    if not parts.hostname:
        raise ValueError("has no host name (expected e.g. http://proxy.example:3128)")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError("must be scheme://[user:password@]host[:port], without a path or query")
    if scheme.startswith("socks") and importlib.util.find_spec("python_socks") is None:
        raise ValueError(
            "a SOCKS proxy needs the python-socks package: pip install 'python-socks[asyncio]'"
        )
    return text.rstrip("/")


def _got_scheme(text: str, parts: SplitResult) -> str:
    """What the URL has instead of a good scheme (``host:port`` has none, whatever urlsplit
    says)."""
    if parts.scheme and "://" in text:
        return f"its scheme is {parts.scheme!r}"
    return "it has no scheme"


def _split(text: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    return parts


__all__ = ["endpoint_problem", "normalise_base_url", "normalise_proxy"]
