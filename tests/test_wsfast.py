"""The fast paths of the upstream WebSocket client (asgi_spark/adapters/wsfast.py, used by
adapters/link.py) against ``websockets`` itself: the same bytes, split anywhere, give the same
messages, the same handshake verdict and the same ending with the fast paths on and off."""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.uri import parse_uri
from websockets.utils import accept_key

from asgi_spark.adapters import wsfast
from asgi_spark.adapters.link import Link

MAX = 200


@dataclass
class FakeTransport:
    written: list[bytes] = field(default_factory=list)
    closing: bool = False
    reading: bool = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def head_for(key: str, *lines: str, status: str = "HTTP/1.1 101 Switching Protocols") -> bytes:
    fields = lines or (
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    )
    return ("\r\n".join((status, *fields)) + "\r\n\r\n").encode()


def run(fast: bool, answer: Any, splits: list[int]) -> tuple[object, ...]:
    """Feed the handshake answer (bytes, or a function of the key) and what follows, cut at
    ``splits``, to a link; what came out of it (see ``took_fast_path`` for how)."""
    return outcome(fast, answer, splits)[:-1]


def took_fast_path(answer: Any) -> bool:
    """Whether the handshake's answer was read on the fast path."""
    return bool(outcome(True, answer, [])[-1])


def outcome(fast: bool, answer: Any, splits: list[int]) -> tuple[object, ...]:
    loop = asyncio.new_event_loop()
    try:
        protocol = ClientProtocol(parse_uri("ws://upstream/chat"), max_size=MAX)
        link = Link(protocol, loop, max_size=MAX, fast=fast)
        link.connection_made(FakeTransport())  # type: ignore[arg-type]
        protocol.send_request(protocol.connect())
        link._flush()
        data = answer(protocol.key) if callable(answer) else answer
        cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in splits)})
        for a, b in itertools.pairwise(cuts):
            link.data_received(data[a:b])
        link.connection_lost(None)
        messages = [(text, bytes(data)) for text, data in link._messages]
        first = protocol.handshake_exc
        closed = link.close_exc()
        return (
            link.accepted and first is None,
            type(first).__name__,
            str(first),
            messages,
            closed.rcvd and (closed.rcvd.code, closed.rcvd.reason),
            closed.sent and (closed.sent.code, closed.sent.reason),
            type(closed.__cause__).__name__,
            link.read_fast,
        )
    finally:
        loop.close()


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
    width: int = 0,
) -> bytes:
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if width == 2 or (not width and 126 <= n < 65536):
        head = struct.pack("!BBH", first, 126 | (0x80 if mask else 0), n)
    elif width == 8 or (not width and n >= 65536):
        head = struct.pack("!BBQ", first, 127 | (0x80 if mask else 0), n)
    else:
        head = struct.pack("!BB", first, n | (0x80 if mask else 0))
    if mask:
        return head + b"\x00\x00\x00\x00" + payload
    return head + payload


frames = st.builds(
    frame,
    st.sampled_from([1, 1, 1, 2, 0, 8, 9, 10, 3]),
    st.binary(max_size=MAX + 20),
    fin=st.booleans() | st.just(True),
    rsv=st.sampled_from([0, 0, 0, 0, 1, 4]),
    mask=st.sampled_from([False, False, False, True]),
    width=st.sampled_from([0, 0, 2, 8]),
)
closes = st.sampled_from([b"", frame(8, b"\x03\xe8"), frame(8, b"\x03\xe8bye"), frame(8, b"\x03")])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(frames, max_size=8), closes, st.lists(st.integers(0, 2000), max_size=6))
def test_frames_read_the_same_with_the_fast_path_as_without(
    body: list[bytes], close: bytes, splits: list[int]
) -> None:
    def answer(key: str) -> bytes:
        return head_for(key) + b"".join(body) + close

    assert run(True, answer, splits) == run(False, answer, splits)


def test_plain_text_frames_take_the_fast_path() -> None:
    def answer(key: str) -> bytes:
        return head_for(key) + frame(1, b'{"a": 1}') + frame(2, b"\x00" * 130)

    assert took_fast_path(answer)
    fast = run(True, answer, [])
    assert fast[0] is True
    assert fast[3] == [(True, b'{"a": 1}'), (False, b"\x00" * 130)]
    assert fast == run(False, answer, [])


HEADS = {
    "plain": lambda key: head_for(key),
    "lower case, spaces, more options": lambda key: head_for(
        key,
        "upgrade:   WebSocket  ",
        "connection: keep-alive, upgrade",
        f"sec-websocket-accept:{accept_key(key)}",
        "Server: spark",
    ),
    "wrong accept": lambda key: head_for(
        key, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: nope"
    ),
    "no upgrade": lambda key: head_for(
        key, "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept_key(key)}"
    ),
    "two accepts": lambda key: head_for(
        key,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ),
    "an extension": lambda key: head_for(
        key,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        "Sec-WebSocket-Extensions: permessage-deflate",
    ),
    "a subprotocol": lambda key: head_for(
        key,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        "Sec-WebSocket-Protocol: chat",
    ),
    "HTTP/1.0": lambda key: head_for(key, status="HTTP/1.0 101 Switching Protocols"),
    "no reason phrase": lambda key: head_for(key, status="HTTP/1.1 101"),
    "bad header name": lambda key: head_for(
        key,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        "Bad Name: x",
    ),
    "a refusal": lambda key: b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nno, no.",
    "a refusal read to the end": lambda key: b"HTTP/1.1 401 Unauthorized\r\n\r\nwho are you",
    "a redirect": lambda key: (
        b"HTTP/1.1 302 Found\r\nLocation: ws://x/\r\nContent-Length: 0\r\n\r\n"
    ),
    "cut short": lambda key: head_for(key)[:40],
    "garbage": lambda key: b"\x00\x01\x02 not http\r\n\r\n",
    "too long": lambda key: head_for(key, *(f"X-Pad-{i}: {'p' * 60}" for i in range(80))),
}


@pytest.mark.parametrize("name", list(HEADS))
@pytest.mark.parametrize("splits", [[], [1], [17, 60], [5, 6, 7, 8, 9]])
def test_handshake_answers_are_judged_as_websockets_judges_them(
    name: str, splits: list[int]
) -> None:
    def answer(key: str) -> bytes:
        return HEADS[name](key) + frame(1, b"hello")

    assert run(True, answer, splits) == run(False, answer, splits)


def test_clean_switch_accepts_only_a_plain_101() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert wsfast.clean_switch(head_for(key), key)
    assert not wsfast.clean_switch(head_for(key), "another key")
    assert not wsfast.clean_switch(HEADS["a refusal"](key), key)
    assert took_fast_path(HEADS["lower case, spaces, more options"])
    assert not took_fast_path(HEADS["two accepts"])


async def test_at_debug_level_websockets_reads_everything() -> None:
    """The fast paths are off when the upstream logger is at DEBUG (frames are logged)."""
    from asgi_spark.adapters.dial import open_link
    from asgi_spark.adapters.wire_log import LOGGER_NAME
    from tests.test_link import server

    async def hello(ws: Any) -> None:
        await ws.send("hi")

    logger = logging.getLogger(LOGGER_NAME)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        async with server(hello) as url:
            link = await open_link(url, max_size=MAX, proxy=None, limit=5)
            try:
                assert not link._fast
                assert await link.recv() == "hi"
            finally:
                await link.close(1)
    finally:
        logger.setLevel(old)
