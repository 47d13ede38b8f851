"""WebSocketAdapter's waiting rules, with a fake connection (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from asgi_spark.adapters import base
from asgi_spark.adapters.connector import Timeouts
from asgi_spark.adapters.deadline import ExchangeDeadline
from asgi_spark.config import ModelEntry
from asgi_spark.errors import FirstFrameTimeoutError, IdleTimeoutError, TotalTimeoutError
from asgi_spark.secrets import Secret


class SilentConnection:
    """A connection whose peer never sends anything."""

    async def recv(self) -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class ChattyConnection:
    async def recv(self) -> str:
        return "frame"


def deadline(
    first_frame: float | None = 60.0, idle: float | None = 60.0, total: float | None = None
) -> ExchangeDeadline:
    return ExchangeDeadline(first_frame=first_frame, idle=idle, total=total)


async def test_first_frame_limit_names_the_phase() -> None:
    with pytest.raises(FirstFrameTimeoutError, match=r"sent nothing for 0\.01 s") as info:
        await deadline(first_frame=0.01).receive(SilentConnection().recv)
    assert "first_frame timeout" in info.value.message
    assert info.value.phase == "first_frame" and info.value.status == 504


async def test_idle_limit_names_the_silence() -> None:
    exchange = deadline(first_frame=60.0, idle=0.01)
    assert await exchange.receive(ChattyConnection().recv) == "frame"
    with pytest.raises(IdleTimeoutError, match=r"sent nothing for 0\.01 s \(idle timeout\)"):
        await exchange.receive(SilentConnection().recv)


async def test_total_deadline_wins_over_a_longer_idle_limit() -> None:
    exchange = deadline(total=0.0)  # already reached
    with pytest.raises(TotalTimeoutError, match="total time limit") as info:
        await exchange.receive(SilentConnection().recv)
    assert info.value.phase == "total"


async def test_total_deadline_fires_while_waiting() -> None:
    with pytest.raises(TotalTimeoutError):
        await deadline(total=0.01).receive(SilentConnection().recv)


async def test_frames_within_the_limits_are_returned() -> None:
    exchange = deadline(first_frame=1.0, total=10)
    assert await exchange.receive(ChattyConnection().recv) == "frame"
    exchange.cancel()


async def test_a_timeout_leaves_the_task_uncancelled() -> None:
    """The deadline's own cancellation is taken back: the task goes on normally."""
    with pytest.raises(FirstFrameTimeoutError):
        await deadline(first_frame=0.01).receive(SilentConnection().recv)
    task = asyncio.current_task()
    assert task is not None and getattr(task, "cancelling", lambda: 0)() == 0
    await asyncio.sleep(0)  # no stray CancelledError is delivered


async def test_an_outside_cancellation_is_not_turned_into_a_timeout() -> None:
    started = asyncio.Event()

    class Waits:
        async def recv(self) -> str:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    task = asyncio.ensure_future(deadline(first_frame=60.0).receive(Waits().recv))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_timer_does_not_fire_into_work_between_frames() -> None:
    """Only time inside receive() counts: a caller busy past the idle limit between two
    frames (here: awaiting something else) is not cancelled by the deadline."""
    exchange = deadline(first_frame=60.0, idle=0.01)
    assert await exchange.receive(ChattyConnection().recv) == "frame"
    waited = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, waited.set)  # outlives the idle limit
    await waited.wait()  # would raise CancelledError if the timer fired into it
    assert await exchange.receive(ChattyConnection().recv) == "frame"
    exchange.cancel()


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (60.0, Timeouts(10.0, 60.0, 60.0, 60.0, 600.0, 2.0)),
        (0.5, Timeouts(0.5, 0.5, 0.5, 0.5, 600.0, 2.0)),
        (120.0, Timeouts(10.0, 120.0, 120.0, 120.0, 1200.0, 2.0)),
    ],
)
def test_the_seed_timeout_fills_every_slot(timeout: float, expected: Timeouts) -> None:
    entry = ModelEntry(id="m", adapter="x", base_url="ws://h", api_key=Secret("k"), timeout=timeout)
    assert Timeouts.for_entry(entry) == expected


def test_exchange_frames_have_an_explicit_kind() -> None:
    exchange = base.Exchange(
        frames=["text", base.TextFrame(b"{}"), base.BinaryFrame(b"\x00")], state=None
    )
    assert exchange.outgoing == (
        base.TextFrame("text"),
        base.TextFrame(b"{}"),
        base.BinaryFrame(b"\x00"),
    )


@pytest.mark.parametrize("frame", [b"{}", bytearray(b"{}"), 42])
def test_exchange_refuses_frames_of_no_explicit_kind(frame: object) -> None:
    with pytest.raises(TypeError, match="TextFrame"):
        base.Exchange(frames=[frame], state=None)  # type: ignore[list-item]


def test_the_spark_adapter_sends_one_text_frame() -> None:
    from asgi_spark.adapters.spark.adapter import SparkAdapter
    from asgi_spark.openai_types import request_decoder

    entry = ModelEntry(
        id="m",
        adapter="websocket_xunfei",
        base_url="ws://127.0.0.1:1",
        api_key=Secret("k"),
        config={"app_id": "a", "api_secret": "s"},
    )
    request = request_decoder.decode(
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    )
    exchange = SparkAdapter(entry).convert_request(request)
    assert len(exchange.outgoing) == 1
    assert isinstance(exchange.outgoing[0], base.TextFrame)
    assert isinstance(exchange.outgoing[0].data, bytes)  # msgspec's UTF-8, sent without a copy
