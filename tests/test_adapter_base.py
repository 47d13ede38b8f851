"""WebSocketAdapter's waiting rules, with a fake connection (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio
import time

import pytest

from asgi_spark.adapters import base
from asgi_spark.config import ModelEntry
from asgi_spark.secrets import Secret


class SilentConnection:
    """A connection whose peer never sends anything."""

    async def recv(self) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class ChattyConnection:
    async def recv(self) -> str:
        return "frame"


async def test_idle_limit_names_the_silence() -> None:
    with pytest.raises(base._Timeout, match=r"sent nothing for 0\.01 s"):
        await base._recv(SilentConnection(), 0.01, None)  # type: ignore[arg-type]


async def test_total_deadline_wins_over_a_longer_idle_limit() -> None:
    deadline = time.monotonic()  # already reached
    with pytest.raises(base._Timeout, match="total time limit"):
        await base._recv(SilentConnection(), 60.0, deadline)  # type: ignore[arg-type]


async def test_frames_within_the_limits_are_returned() -> None:
    assert await base._recv(ChattyConnection(), 1.0, time.monotonic() + 10) == "frame"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (60.0, base.Timeouts(10.0, 60.0, 60.0, 600.0)),
        (0.5, base.Timeouts(0.5, 0.5, 0.5, 600.0)),
        (120.0, base.Timeouts(10.0, 120.0, 120.0, 1200.0)),
    ],
)
def test_timeouts_from_the_entry(timeout: float, expected: base.Timeouts) -> None:
    entry = ModelEntry(id="m", adapter="x", base_url="ws://h", api_key=Secret("k"), timeout=timeout)
    assert base.Timeouts.for_entry(entry) == expected
