"""Verify the signed WebSocket upgrade request the way the Spark gateway does (spec 1.4, 5.1).

Sans-I/O: :func:`verify_handshake` takes the request target (path and query) and the time, and
returns :class:`Accepted` or :class:`Rejected` (an HTTP status and the ``{"message": ...}`` text of
the real service).  The checks run in the order of Kong's ``hmac-auth`` plugin, which the real
gateway is: route, parameters present, authorization parsable, clock skew, credential known,
signature matches.

Tolerated like the real service: ``GMT`` or ``UTC`` dates, ``api_key="..."`` or
``hmac username="..."``, any whitespace between the ``k="v"`` pairs, and a raw (not
form-encoded) ``authorization`` whose ``+`` became a space.  The signature is recomputed over the
``host`` *query parameter*, the ``date`` parameter verbatim and ``GET <path> HTTP/1.1``.

Strict where the spec is explicit or no client differs: the authorization holds exactly the
pairs ``api_key`` (or ``username``), ``algorithm``, ``headers`` and ``signature``, each once,
with lower-case names; ``algorithm`` is exactly ``hmac-sha256`` and ``headers`` exactly
``host date request-line``; the date is RFC 1123 with a two-digit day and the right weekday
(no numeric zone such as ``+0000``, spec 9).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from ..adapters.spark.auth import ALGORITHM, SIGNED_HEADERS, signature
from ..adapters.spark.versions import SparkVersion

MAX_CLOCK_SKEW: Final = 300.0
"""Seconds a ``date`` may differ from the server clock (Kong's default ``clock_skew``)."""

UNAUTHORIZED: Final = "Unauthorized"
CANNOT_VERIFY: Final = "HMAC signature cannot be verified"
UNKNOWN_KEY: Final = "HMAC signature cannot be verified: fail to retrieve credential"
BAD_DATE: Final = (
    "HMAC signature cannot be verified, a valid date or x-date header is required for "
    "HMAC Authentication"
)
MISMATCH: Final = "HMAC signature does not match"
NOT_FOUND: Final = "Not Found"

_PAIR: Final = re.compile(r'\s*([a-z_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
_SCHEME: Final = re.compile(r"\s*hmac\s+")
_KEY_NAMES: Final = ("api_key", "username")
_PAIR_NAMES: Final = frozenset({*_KEY_NAMES, "algorithm", "headers", "signature"})
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_DATE: Final = re.compile(
    r"(" + "|".join(_WEEKDAYS) + r"), (\d{2}) (" + "|".join(_MONTHS) + r") (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC)"
)

# Plausible bodies for a handshake refused on purpose (Faults.handshake_status).
_FAULT_MESSAGES: Final[dict[int, str]] = {
    400: "Bad Request",
    401: MISMATCH,
    403: BAD_DATE,
    404: NOT_FOUND,
    429: "API rate limit exceeded",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "Service unavailable",
    504: "The upstream server is timed out",
}


@dataclass(frozen=True)
class Credential:
    """One console application: the ``app_id`` its frames must carry, its key and secret."""

    app_id: str
    api_key: str
    api_secret: str


@dataclass(frozen=True)
class Accepted:
    credential: Credential
    version: SparkVersion


@dataclass(frozen=True)
class Rejected:
    """Refuse the upgrade with HTTP ``status`` and body ``{"message": message}``."""

    status: int
    message: str


def fault_rejection(status: int) -> Rejected:
    """A realistic refusal for an injected handshake status (any 4xx/5xx)."""
    return Rejected(status, _FAULT_MESSAGES.get(status, "Simulated handshake failure"))


def verify_handshake(
    target: str,
    *,
    endpoints: Mapping[str, SparkVersion],
    credentials: Mapping[str, Credential],
    now: float,
    max_skew: float = MAX_CLOCK_SKEW,
) -> Accepted | Rejected:
    """Check one upgrade request.  ``target`` is the request path with its query string.

    ``endpoints`` maps URL paths to versions, ``credentials`` API keys to credentials, ``now`` is
    the server's Unix time.
    """
    parts = urlsplit(target)
    version = endpoints.get(parts.path)
    if version is None:
        return Rejected(404, NOT_FOUND)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(key, value)
    raw_authorization, date, host = (params.get(k) for k in ("authorization", "date", "host"))
    if not raw_authorization or not date or not host:
        return Rejected(401, UNAUTHORIZED)
    fields = _parse_authorization(raw_authorization)
    if fields is None:
        return Rejected(401, CANNOT_VERIFY)
    api_key, claimed = fields
    timestamp = parse_date(date)
    if timestamp is None or abs(now - timestamp) > max_skew:
        return Rejected(403, BAD_DATE)
    credential = credentials.get(api_key)
    if credential is None:
        return Rejected(401, UNKNOWN_KEY)
    expected = signature(credential.api_secret, host, date, parts.path)
    if not hmac.compare_digest(expected.encode(), claimed.encode()):
        return Rejected(401, MISMATCH)
    return Accepted(credential, version)


def _parse_authorization(value: str) -> tuple[str, str] | None:
    """``(api key, signature)`` from a base64 ``authorization`` value, or ``None``."""
    # Base64 has no spaces: a space is a '+' that form decoding turned into one.
    try:
        decoded = base64.b64decode(value.replace(" ", "+"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    scheme = _SCHEME.match(decoded)
    text = decoded[scheme.end() :] if scheme else decoded
    pairs: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            return None
        name = match.group(1)
        if name not in _PAIR_NAMES or name in pairs:
            return None
        pairs[name] = match.group(2)
        position = match.end()
    keys = [pairs[name] for name in _KEY_NAMES if name in pairs]
    sig = pairs.get("signature")
    if (
        len(keys) != 1
        or not keys[0]
        or not sig
        or pairs.get("algorithm") != ALGORITHM
        or pairs.get("headers") != SIGNED_HEADERS
    ):
        return None
    return keys[0], sig


def parse_date(date: str) -> int | None:
    """Unix time of an RFC 1123 date with a ``GMT`` or ``UTC`` zone, else ``None``.

    The weekday must be the date's.
    """
    match = _DATE.fullmatch(date)
    if match is None:
        return None
    weekday, day, month, year, hour, minute, second = match.groups()
    try:
        moment = datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone.utc,
        )
    except ValueError:  # 31 Feb, 25:00, ...
        return None
    if _WEEKDAYS[moment.weekday()] != weekday:
        return None
    return int(moment.timestamp())
