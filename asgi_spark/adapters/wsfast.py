"""The two shapes that nearly all upstream WebSocket traffic has, read without ``websockets``'
generator-based parsers; everything else is left to ``websockets``.  No I/O.

``websockets``' Sans-I/O protocol parses an HTTP response and every frame with generators
(``read_line``, ``read_exact``, a ``Headers`` object, a ``Frame`` per frame): correct for
anything a server may send, and about a tenth of the gateway's CPU per request and per chunk
(``benchmarks/README.md``).  Spark's traffic is almost always the same two things:

* the handshake's answer: ``HTTP/1.1 101`` with ``Upgrade``, ``Connection`` and the right
  ``Sec-WebSocket-Accept``, and nothing the client did not ask for (no extension, no
  subprotocol). :func:`clean_switch` accepts exactly that and answers ``False`` for anything
  else, which then goes to ``websockets`` as it is (a refusal, a bad header, a redirect);
* data frames: unfragmented (FIN), unmasked, no RSV bit, text or binary, at most ``max_size``.
  :func:`scan` reads those off the front of the received bytes and stops at the first frame
  of any other kind (a close, a ping, a fragment, one too big, a masked one): from there the
  bytes go to ``websockets``, which handles (or refuses) them as before.

The rules are the ones ``websockets`` applies to the same bytes (RFC 6455 sections 4.1 and
5.2; the header syntax of RFC 7230); tests compare the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from websockets.utils import accept_key

#: A handshake answer longer than this is left to websockets (which has its own limits).
MAX_HEAD: Final = 4096

_TOKEN = re.compile(rb"[-!#$%&\'*+.^_`|~0-9a-zA-Z]+")  # websockets.http11._token_re
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")  # websockets.http11._value_re
_OWS = b" \t"


def clean_switch(head: bytes, key: str) -> bool:
    """Whether ``head`` (a response's status line and headers, up to and including the blank
    line) is a plain ``101 Switching Protocols`` for a request with ``Sec-WebSocket-Key:
    key`` that asked for no extension and no subprotocol."""
    lines = head.split(b"\r\n")
    if len(lines) < 3 or lines[-1] or lines[-2]:
        return False
    status = lines[0]
    if not status.startswith(b"HTTP/1.1 101 ") or not _VALUE.fullmatch(status, 13):
        return False
    upgrade: bytes | None = None
    accept: bytes | None = None
    connection: list[bytes] = []
    for line in lines[1:-2]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            return False
        name = name.lower()
        value = value.strip(_OWS)
        if name == b"upgrade":
            if upgrade is not None:
                return False
            upgrade = value
        elif name == b"connection":
            connection += (option.strip(_OWS).lower() for option in value.split(b","))
        elif name == b"sec-websocket-accept":
            if accept is not None:
                return False
            accept = value
        elif name in (b"sec-websocket-extensions", b"sec-websocket-protocol"):
            return False
    return (
        upgrade is not None
        and upgrade.lower() == b"websocket"
        and b"upgrade" in connection
        and accept == accept_key(key).encode()
    )


#: Receives one whole message: (is it text, its payload).
Push = Callable[[bool, bytes], None]


def scan(data: bytes, max_size: int | None, push: Push) -> tuple[int, bool]:
    """Push every plain data frame (see the module docstring) at the front of ``data``.

    Returns how many bytes were consumed and whether a frame of another kind follows
    (``True``: hand ``data[consumed:]`` and everything after it to ``websockets``; ``False``:
    the rest, if any, is the start of a frame that has not fully arrived).
    """
    pos = 0
    end = len(data)
    while end - pos >= 2:
        first = data[pos]
        length = data[pos + 1]
        # FIN and no RSV bit, text (0x81) or binary (0x82); not masked (length byte < 0x80)
        if (first != 0x81 and first != 0x82) or length & 0x80:
            return pos, True
        if length < 126:
            start = pos + 2
        elif length == 126:
            start = pos + 4
            if start > end:
                return pos, False
            length = data[pos + 2] << 8 | data[pos + 3]
        else:
            start = pos + 10
            if start > end:
                return pos, False
            length = int.from_bytes(data[pos + 2 : start], "big")
        if max_size is not None and length > max_size:
            return pos, True  # websockets refuses it with 1009
        stop = start + length
        if stop > end:
            return pos, False
        push(first == 0x81, data[start:stop])
        pos = stop
    return pos, False


__all__ = ["MAX_HEAD", "Push", "clean_switch", "scan"]
