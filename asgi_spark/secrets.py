"""Secrets as a type: ``repr`` and ``str`` are masked so no log line, error or reprs can leak them.

Call :meth:`Secret.reveal` at the single place that needs the value (signing a URL, putting the
app id into a frame).  Everything else handles the opaque object.

Words that come from upstream (a refused handshake's body, an error frame's message, a close
reason, a library's log line) may quote what the gateway sent, the signed URL included:
:func:`redact_upstream` removes the known secrets and every signed query from them before they
reach a client or a log.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

MASK: Final = "****"


class Secret:
    """An opaque credential.  ``str(secret)`` and ``repr(secret)`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        """What humans see: always ``****``, nothing of the value itself."""
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def __str__(self) -> str:
        return self.masked()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Replace every occurrence of the given secret values in ``text`` with ``****``."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, MASK)
    return text


#: The query parameters of a signed upstream URL.  ``authorization`` is the base64 of the API
#: key and an HMAC signature over ``host`` and ``date``: the three together open a connection as
#: the gateway until the signature expires (Spark: 300 s), so none of them may be shown.
SIGNED_QUERY_PARAMETERS: Final = ("authorization", "date", "host")

# ``name=value`` in a query as sent (``=``), percent-encoded once (``%3D``, a URL quoted inside
# another URL) or twice (``%253D``), after ``?``/``&`` or any of their encodings; the value ends
# at ``&`` (also encoded, or JSON-escaped as ``\u0026``), a space, a quote or a bracket.  JSON's
# ``\/`` is part of the value.
_SIGNED_QUERY: Final = re.compile(
    r"(?i)(?:(?<![\w-])|(?<=%3F)|(?<=%26)|(?<=%253F)|(?<=%2526)|(?<=\\u0026))"
    r"(" + "|".join(SIGNED_QUERY_PARAMETERS) + r")(=|%3D|%253D)"
    r"(?:(?!%26|%2526)(?:\\/|[^\s&\"'<>\\]))*"
)
# The decoded ``authorization``: ``api_key="…", …, signature="…"`` (quotes maybe JSON-escaped).
_AUTHORIZATION_PAIRS: Final = re.compile(
    r'(?i)(?<![\w-])(api_key|signature|hmac username)\s*=\s*\\?"[^"\\]*\\?"'
)
# The encoded ``authorization`` seen alone: base64 of ``api_key="`` or ``hmac username="``.
_AUTHORIZATION_BASE64: Final = re.compile(r"(?:YXBpX2tleT0i|aG1hYyB1c2VybmFtZT0i)[\w+/=%-]*")


def redact_upstream(text: str, *secrets: Secret | str | None) -> str:
    """``text`` from upstream, safe to show: the given secrets, the values of a signed query
    (:data:`SIGNED_QUERY_PARAMETERS`, also percent-encoded) and any authorization credential
    (decoded or base64) replaced by ``****``."""
    text = redact(text, *secrets)
    text = _SIGNED_QUERY.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _AUTHORIZATION_PAIRS.sub(lambda m: f'{m[1]}="{MASK}"', text)
    return _AUTHORIZATION_BASE64.sub(MASK, text)


def mask_url_password(url: str) -> str:
    """``url`` with the password of its user info (``user:pass@``) replaced by ``****``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{MASK}@{netloc}").geturl()
