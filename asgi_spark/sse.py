"""Server-sent-event framing: one ``data:`` line per event, blank-line separated."""

from __future__ import annotations

from typing import Final

DONE: Final = b"data: [DONE]\n\n"
HEADERS: Final = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)


def event(payload: bytes) -> bytes:
    """One SSE event carrying ``payload`` (a JSON document, which never contains a newline)."""
    return b"data: " + payload + b"\n\n"


def named_event(name: bytes, payload: bytes) -> bytes:
    """One SSE event with an ``event:`` line (the Responses API names each event's type)."""
    return b"event: " + name + b"\ndata: " + payload + b"\n\n"
