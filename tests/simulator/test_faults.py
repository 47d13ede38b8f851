"""Faults, each from Python (``sim.faults``) and from a prompt directive, and bad directives."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from asgi_spark.adapters.spark.frames import FrameError, decode_frame
from asgi_spark.simulator import Faults, SparkSimulator

from .helpers import Exchange, assert_error, chat_frame, exchange, signed_url
from .test_answer import WEATHER

SOURCES = ["python", "directive"]


def _directive(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


async def _ask(
    sim: SparkSimulator,
    source: str,
    question: str = "hello",
    frame_options: dict[str, Any] | None = None,
    **faults: Any,
) -> Exchange:
    """Ask ``question`` with ``faults`` set the way ``source`` says."""
    if source == "python":
        sim.faults = Faults(**faults)
    else:
        question += " [spark:" + ",".join(f"{k}={_directive(v)}" for k, v in faults.items()) + "]"
    return await exchange(sim, chat_frame(question, **(frame_options or {})))


def _content_frames(result: Exchange) -> list[dict[str, Any]]:
    return [f for f in result.frames if "payload" in f]


@pytest.mark.parametrize("source", SOURCES)
async def test_error_after_some_frames(sim: SparkSimulator, source: str) -> None:
    result = await _ask(sim, source, error_code=10014, error_after=2)
    content, error = result.frames[:2], result.frames[2:]
    assert [f["header"]["status"] for f in content] == [0, 1]
    assert len(error) == 1 and set(error[0]) == {"header"}
    assert error[0]["header"]["code"] == 10014
    assert error[0]["header"]["status"] == 2
    assert error[0]["header"]["message"].startswith("OutputAuditError:(")
    assert error[0]["header"]["sid"] == content[0]["header"]["sid"]
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    assert decode_frame(result.raw[2]).is_error


@pytest.mark.parametrize("source", SOURCES)
async def test_error_first_with_message(sim: SparkSimulator, source: str) -> None:
    result = await _ask(sim, source, error_code=11200, error_message="domain.generalv3.5")
    assert_error(result, 11200, "AppIdNoAuthError", "domain.generalv3.5")


@pytest.mark.parametrize("source", SOURCES)
async def test_error_after_more_frames_than_the_answer_has(
    sim: SparkSimulator, source: str
) -> None:
    result = await _ask(sim, source, chunks=2, error_code=10013, error_after=5)
    assert len(_content_frames(result)) == 5
    assert result.last["header"]["code"] == 10013


@pytest.mark.parametrize("source", SOURCES)
async def test_close_after_aborts_without_close_frame(sim: SparkSimulator, source: str) -> None:
    result = await _ask(sim, source, close_after=1)
    assert len(result.frames) == 1
    assert result.frames[0]["header"]["status"] == 0
    assert not result.close_frame_received
    assert result.close_code == 1006


@pytest.mark.parametrize("source", SOURCES)
async def test_malformed_after(sim: SparkSimulator, source: str) -> None:
    result = await _ask(sim, source, malformed_after=2)
    assert len(result.raw) == 3
    assert [decode_frame(r).header.status for r in result.raw[:2]] == [0, 1]
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.raw[2])
    with pytest.raises(FrameError):
        decode_frame(result.raw[2])
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("after", [0, 1])
async def test_hang_after(sim: SparkSimulator, source: str, after: int) -> None:
    question = "hello"
    if source == "python":
        sim.faults = Faults(hang_after=after)
    else:
        question += f" [spark:hang_after={after}]"
    async with connect(signed_url(sim)) as ws:
        await ws.send(json.dumps(chat_frame(question)))
        received = [json.loads(await ws.recv()) for _ in range(after)]
        # Bounded negative check: nothing more arrives and the connection stays open.
        with pytest.raises(TimeoutError):
            await asyncio_wait_for(ws.recv(), 0.2)
        assert sim.open_connections == 1
    assert [f["header"]["status"] for f in received] == [0] * after
    await sim.wait_closed_all()
    assert sim.open_connections == 0


async def asyncio_wait_for(awaitable: Any, timeout: float) -> Any:
    import asyncio

    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError from None


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("chunks", [1, 4, 40])
async def test_chunks(sim: SparkSimulator, source: str, chunks: int) -> None:
    result = await _ask(sim, source, chunks=chunks)
    assert len(result.frames) == chunks
    assert result.last["header"]["status"] == 2
    assert result.content.startswith("This is the Spark simulator")


@pytest.mark.parametrize("source", SOURCES)
async def test_answer_override(sim: SparkSimulator, source: str) -> None:
    result = await _ask(sim, source, answer="固定的回答, with a comma] and a bracket", chunks=3)
    assert result.content == "固定的回答, with a comma] and a bracket"
    assert result.last["payload"]["usage"]["text"]["completion_tokens"] == 13


@pytest.mark.parametrize("source", SOURCES)
async def test_first_frame_delay(sim: SparkSimulator, source: str) -> None:
    started = time.monotonic()
    result = await _ask(sim, source, first_frame_delay=0.2, chunks=2)
    assert time.monotonic() - started >= 0.2
    assert len(result.frames) == 2


@pytest.mark.parametrize("source", SOURCES)
async def test_frame_delay(sim: SparkSimulator, source: str) -> None:
    started = time.monotonic()
    result = await _ask(sim, source, frame_delay=0.05, chunks=4)
    assert time.monotonic() - started >= 0.15
    assert len(result.frames) == 4


@pytest.mark.parametrize("source", SOURCES)
async def test_function_forced(sim: SparkSimulator, source: str) -> None:
    result = await _ask(
        sim, source, "no function name here", {"functions": [WEATHER]}, function="get_weather"
    )
    [frame] = result.frames
    assert frame["payload"]["choices"]["text"][0]["function_call"]["name"] == "get_weather"


@pytest.mark.parametrize("source", SOURCES)
async def test_fault_before_a_function_call(sim: SparkSimulator, source: str) -> None:
    result = await _ask(
        sim, source, "call get_weather", {"functions": [WEATHER]}, error_code=10013, error_after=3
    )
    assert [f["header"]["code"] for f in result.frames] == [10013]


async def test_directive_is_stripped_from_the_echo(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame("tell me  [spark:chunks=3]  a joke"))
    assert "answering: tell me a joke\n" in result.content
    assert "[spark:" not in result.content
    assert len(result.frames) == 3


async def test_directive_overrides_python_faults(sim: SparkSimulator) -> None:
    sim.faults = Faults(chunks=2, frame_delay=0.001)
    result = await exchange(sim, chat_frame("hi [spark:chunks=5]"))
    assert len(result.frames) == 5


async def test_python_faults_apply_to_every_connection_until_reset(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10110)
    for _ in range(2):
        assert (await exchange(sim, chat_frame())).frames[0]["header"]["code"] == 10110
    sim.faults = Faults()
    assert (await exchange(sim, chat_frame())).last["header"]["code"] == 0


async def test_directives_apply_to_one_request_only(sim: SparkSimulator) -> None:
    assert (await exchange(sim, chat_frame("x [spark:error_code=10110]"))).frames[0]["header"][
        "code"
    ] == 10110
    assert (await exchange(sim, chat_frame("x"))).last["header"]["code"] == 0


async def test_directives_in_history_are_ignored(sim: SparkSimulator) -> None:
    history = [
        {"role": "user", "content": "x [spark:error_code=10110]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "y"},
    ]
    assert (await exchange(sim, chat_frame(messages=history))).last["header"]["code"] == 0


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "HMAC signature does not match"),
        (
            403,
            "HMAC signature cannot be verified, a valid date or x-date header is required "
            "for HMAC Authentication",
        ),
        (429, "API rate limit exceeded"),
        (503, "Service unavailable"),
        (418, "Simulated handshake failure"),
    ],
)
async def test_handshake_status(sim: SparkSimulator, status: int, message: str) -> None:
    sim.faults = Faults(handshake_status=status)
    with pytest.raises(InvalidStatus) as caught:
        async with connect(signed_url(sim)):
            pass
    response = caught.value.response
    assert response.status_code == status
    assert json.loads(response.body) == {"message": message}
    assert response.headers["Content-Type"].startswith("application/json")


async def test_handshake_delay(sim: SparkSimulator) -> None:
    sim.faults = Faults(handshake_delay=0.2)
    started = time.monotonic()
    async with connect(signed_url(sim)) as ws:
        assert time.monotonic() - started >= 0.2
        await ws.send(json.dumps(chat_frame()))


async def test_handshake_delay_then_status(sim: SparkSimulator) -> None:
    sim.faults = Faults(handshake_delay=0.1, handshake_status=502)
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as caught:
        async with connect(signed_url(sim)):
            pass
    assert caught.value.response.status_code == 502
    assert time.monotonic() - started >= 0.1


BAD_DIRECTIVES = [
    ("[spark:errr_code=10014]", "unknown key 'errr_code'"),
    ("[spark:error_code=abc]", "bad value for error_code: 'abc'"),
    ("[spark:chunks=0]", "chunks must be a number >= 1"),
    ("[spark:close_after]", "expected key=value"),
    ("[spark:error_after=2", "expected [spark:key=value,...]"),
    ("[spark:error_after=2]", "error_after needs error_code"),
    ("[spark:function=nope]", "function=nope names no declared function"),
    ("[spark:handshake_status=401]", "handshake_status cannot be set from a prompt"),
    ('[spark:answer="unterminated]', """'[spark:answer="unterminated]': expected [spark:key="""),
    (r'[spark:answer="bad \q"]', "bad quoted value for answer"),
]


@pytest.mark.parametrize(
    ("directive", "expected"), BAD_DIRECTIVES, ids=[d[0] for d in BAD_DIRECTIVES]
)
async def test_bad_directive_is_10004_naming_it(
    sim: SparkSimulator, directive: str, expected: str
) -> None:
    result = await exchange(sim, chat_frame(f"hello {directive}"))
    [frame] = result.frames
    assert frame["header"]["code"] == 10004
    message = frame["header"]["message"]
    assert message.startswith("SchemaCheckError:(")
    assert "invalid simulator" in message
    assert expected in message
    assert message.endswith(";")
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")


@pytest.mark.parametrize(
    "faults",
    [
        {"chunks": 0},
        {"close_after": -1},
        {"frame_delay": -0.5},
        {"handshake_status": 200},
        {"handshake_status": 101},
        {"error_code": 0},
        {"hang_after": True},
        {"function": ""},
    ],
)
def test_bad_python_faults_are_value_errors(faults: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(**faults)


def test_error_after_without_code_is_refused(make_sim: Callable[..., SparkSimulator]) -> None:
    sim = make_sim()
    with pytest.raises(ValueError, match="needs error_code"):
        sim.faults = Faults(error_after=1)
    assert sim.faults == Faults()


async def test_times_limits_the_faults_to_the_next_connections(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=10110, times=2)
    codes = [(await exchange(sim, chat_frame())).frames[0]["header"]["code"] for _ in range(3)]
    assert codes == [10110, 10110, 0]
    sim.faults = Faults(error_code=10110, times=1)  # setting faults again starts a new count
    assert (await exchange(sim, chat_frame())).frames[0]["header"]["code"] == 10110


def test_times_cannot_come_from_a_prompt() -> None:
    from asgi_spark.simulator.directives import DirectiveError, extract_directives

    with pytest.raises(DirectiveError, match="times cannot be set from a prompt"):
        extract_directives("hi [spark:times=2]")
