"""HMAC-SHA256 URL signing for the Spark WebSocket handshake (spec section 1.2).

Pure functions, no I/O.  The clock is injectable so the official test vectors can be reproduced.
The signed URL carries credentials: never log it, never put it in an error.

The signature covers the date at one-second resolution, so every URL signed within one second
is the same string: :class:`UrlSigner` makes it once per second (what the official SDK sends
for concurrent requests too) instead of once per connection (an HMAC, a date and a form
encoding each: a few per cent of the gateway's CPU per request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from email.utils import formatdate
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from ...clock import Clock
from ...secrets import Secret

ALGORITHM: Final = "hmac-sha256"
SIGNED_HEADERS: Final = "host date request-line"


def rfc1123_date(timestamp: float, *, suffix: str = "GMT") -> str:
    """``Fri, 05 May 2023 10:43:39 GMT`` for a Unix timestamp.

    ``suffix`` may be ``UTC`` (what Go and Java clients send).
    """
    date = formatdate(timestamp, usegmt=True)
    if suffix != "GMT":
        date = date[: -len("GMT")] + suffix
    return date


def signature_origin(host: str, date: str, path: str, method: str = "GET") -> str:
    """The three signed lines, joined by LF, no trailing newline."""
    return f"host: {host}\ndate: {date}\n{method} {path} HTTP/1.1"


def signature(api_secret: str, host: str, date: str, path: str, method: str = "GET") -> str:
    """Base64 of HMAC-SHA256(api_secret, signature_origin): 44 characters."""
    digest = hmac.new(
        api_secret.encode("utf-8"),
        signature_origin(host, date, path, method).encode("utf-8"),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_origin(api_key: str, sig: str) -> str:
    """The official ``api_key="…", algorithm="hmac-sha256", headers="…", signature="…"`` form."""
    return (
        f'api_key="{api_key}", algorithm="{ALGORITHM}", '
        f'headers="{SIGNED_HEADERS}", signature="{sig}"'
    )


def authorization(api_key: str, sig: str) -> str:
    return base64.b64encode(authorization_origin(api_key, sig).encode("utf-8")).decode("ascii")


def sign_url(
    url: str,
    api_key: str,
    api_secret: str,
    *,
    clock: Clock = time.time,
    date_suffix: str = "GMT",
) -> str:
    """Return ``url`` with the ``authorization``, ``date`` and ``host`` query parameters.

    ``host`` is the URL's authority including ``:port`` when the URL has one, exactly what a
    Python or Go client sends and what the server recomputes the signature over.  The query is
    form-encoded (``+`` for spaces, ``%2C``, ``%3A``), the style the real service accepts.
    Any query already on ``url`` is replaced.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"a Spark URL must start with ws:// or wss://, not {parts.scheme!r}://")
    if not parts.hostname:  # not netloc: "wss://:8765/x" has a netloc but no host
        raise ValueError("a Spark URL needs a host")
    host = parts.netloc
    path = parts.path or "/"
    date = rfc1123_date(clock(), suffix=date_suffix)
    sig = signature(api_secret, host, date, path)
    query = urlencode({"authorization": authorization(api_key, sig), "date": date, "host": host})
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


class UrlSigner:
    """``sign_url(url, api_key, api_secret)`` remembered for the second it was made in.

    The secrets stay :class:`~asgi_spark.secrets.Secret` here and are revealed only to sign;
    the remembered URL is a signed one (a credential for 300 s, like every signed URL).
    """

    __slots__ = ("_api_key", "_api_secret", "_clock", "_second", "_signed", "_url")

    def __init__(self, url: str, api_key: Secret, api_secret: Secret, *, clock: Clock) -> None:
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        self._clock = clock
        self._second: int | None = None
        self._signed = ""

    def __call__(self) -> str:
        second = math.floor(self._clock())
        if second != self._second:
            self._signed = sign_url(
                self._url,
                self._api_key.reveal(),
                self._api_secret.reveal(),
                clock=lambda: second,
            )
            self._second = second
        return self._signed
