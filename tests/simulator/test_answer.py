"""Answers (spec 3): streamed text, usage, truncation, function calls, x1 reasoning, lifecycle."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

from asgi_spark.adapters.spark.frames import decode_frame
from asgi_spark.simulator import Faults, SparkSimulator, count_tokens
from asgi_spark.simulator.server import DEFAULT_IDLE_TIMEOUT
from asgi_spark.simulator.sid import sid_millis

from .helpers import assert_error, chat_frame, exchange, read_all, signed_url, until

SID = re.compile(r"cht[0-9a-f]{8}@dx[0-9a-f]{11}[0-9a-f]{4}[0-9]{2}0")

WEATHER = {
    "name": "get_weather",
    "description": "天气查询",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "scale": {"type": "number"},
            "metric": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["C", "F"]},
            "extra": {"type": "object"},
        },
        "required": ["city"],
    },
}


def _statuses(frames: list[dict]) -> list[tuple[int, int, int]]:  # type: ignore[type-arg]
    return [
        (f["header"]["status"], f["payload"]["choices"]["status"], f["payload"]["choices"]["seq"])
        for f in frames
    ]


async def test_normal_answer(sim: SparkSimulator) -> None:
    before = time.time()
    result = await exchange(sim, chat_frame("你好, simulator!"))
    frames = result.frames
    assert len(frames) >= 3
    assert all(isinstance(raw, str) for raw in result.raw), "text frames only (spec 3.6)"
    expected = (
        [(0, 0, 0)] + [(1, 1, i) for i in range(1, len(frames) - 1)] + [(2, 2, len(frames) - 1)]
    )
    assert _statuses(frames) == expected
    assert all(f["header"]["code"] == 0 and f["header"]["message"] == "Success" for f in frames)
    sids = {f["header"]["sid"] for f in frames}
    assert len(sids) == 1
    sid = sids.pop()
    assert SID.fullmatch(sid)
    assert before * 1000 - 1 <= sid_millis(sid) <= time.time() * 1000 + 1
    for frame in frames:
        [item] = frame["payload"]["choices"]["text"]
        assert (item["role"], item["index"]) == ("assistant", 0)
        assert item["content"]
    assert all("usage" not in f["payload"] for f in frames[:-1])

    content = result.content
    assert content.startswith(
        "This is the Spark simulator (generalv3.5) answering: 你好, simulator!"
    )
    assert "星火" in content
    usage = frames[-1]["payload"]["usage"]["text"]
    tokens = count_tokens("你好, simulator!")
    assert usage == {
        "question_tokens": tokens,
        "prompt_tokens": tokens,
        "completion_tokens": count_tokens(content),
        "total_tokens": tokens + count_tokens(content),
    }
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    assert result.close_frame_received
    # The gateway's own decoder accepts every frame.
    assert [decode_frame(r).header.status for r in result.raw] == [
        f["header"]["status"] for f in frames
    ]
    assert sim.requests == [chat_frame("你好, simulator!")]


async def test_answers_are_deterministic(sim: SparkSimulator) -> None:
    first = await exchange(sim, chat_frame("same question"))
    second = await exchange(sim, chat_frame("same question"))
    other = await exchange(sim, chat_frame("another question"))

    def chunks(result: object) -> list[str]:
        return [f["payload"]["choices"]["text"][0]["content"] for f in result.frames]  # type: ignore[attr-defined]

    assert chunks(first) == chunks(second)
    assert first.frames[0]["header"]["sid"] != second.frames[0]["header"]["sid"]
    assert chunks(first) != chunks(other)
    sizes = {len(c) for c in chunks(first)}
    assert len(sizes) > 2, "chunk sizes should be irregular"


async def test_usage_with_history(sim: SparkSimulator) -> None:
    history = [
        {"role": "system", "content": "You are brief."},
        {"role": "user", "content": "第一个问题"},
        {"role": "assistant", "content": "第一个回答"},
        {"role": "user", "content": "second question here"},
    ]
    result = await exchange(sim, chat_frame(messages=history))
    usage = result.last["payload"]["usage"]["text"]
    assert usage["prompt_tokens"] == sum(count_tokens(m["content"]) for m in history)
    assert usage["question_tokens"] == count_tokens("second question here") == 3
    assert "answering: second question here" in result.content


@pytest.mark.parametrize("max_tokens", [1, 7, 30])
async def test_truncated_at_max_tokens(sim: SparkSimulator, max_tokens: int) -> None:
    result = await exchange(sim, chat_frame("hello", max_tokens=max_tokens))
    usage = result.last["payload"]["usage"]["text"]
    assert usage["completion_tokens"] == max_tokens
    assert count_tokens(result.content) == max_tokens
    assert result.last["header"]["status"] == 2
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")


async def test_short_answers_are_not_padded(sim: SparkSimulator) -> None:
    full = await exchange(sim, chat_frame("hello"))
    capped = await exchange(sim, chat_frame("hello", max_tokens=8192))
    assert capped.content == full.content
    assert count_tokens(full.content) < 8192


async def test_function_call(sim: SparkSimulator) -> None:
    result = await exchange(
        sim, chat_frame("please call get_weather for 合肥", functions=[WEATHER])
    )
    assert len(result.frames) == 1
    frame = result.frames[0]
    assert frame["header"]["status"] == 2
    assert (frame["payload"]["choices"]["status"], frame["payload"]["choices"]["seq"]) == (2, 0)
    [item] = frame["payload"]["choices"]["text"]
    arguments = item["function_call"].pop("arguments")
    assert item == {
        "content": "",
        "role": "assistant",
        "content_type": "text",
        "function_call": {"name": "get_weather"},
        "index": 0,
    }
    assert json.loads(arguments) == {
        "city": "sample",
        "days": 1,
        "scale": 1,
        "metric": True,
        "unit": "C",
        "extra": {},
    }
    prompt = count_tokens("please call get_weather for 合肥")
    assert frame["payload"]["usage"]["text"] == {
        "question_tokens": prompt,
        "prompt_tokens": prompt,
        "completion_tokens": 0,
        "total_tokens": prompt,
    }
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    decoded = decode_frame(result.raw[0])
    assert decoded.payload is not None and decoded.payload.choices is not None
    assert decoded.payload.choices.text[0].function_call is not None


async def test_declared_function_not_mentioned_gives_text(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame("what is the weather?", functions=[WEATHER]))
    assert len(result.frames) > 1
    assert all("function_call" not in f["payload"]["choices"]["text"][0] for f in result.frames)


async def test_x1_reasoning_frames_come_first(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame("think about it", domain="spark-x"), version="x1")
    items = [f["payload"]["choices"]["text"][0] for f in result.frames]
    reasoning = [i for i in items if i.get("reasoning_content")]
    assert len(reasoning) >= 1
    assert items[: len(reasoning)] == reasoning, "reasoning frames come before the answer"
    assert all(i["content"] == "" for i in reasoning)
    answer = items[len(reasoning) :]
    assert answer and all("reasoning_content" not in i for i in answer)
    assert _statuses(result.frames)[0] == (0, 0, 0)
    assert _statuses(result.frames)[-1] == (2, 2, len(items) - 1)
    thoughts = "".join(i["reasoning_content"] for i in reasoning)
    usage = result.last["payload"]["usage"]["text"]
    assert usage["completion_tokens"] == count_tokens(thoughts) + count_tokens(result.content)
    assert result.content.startswith(
        "This is the Spark simulator (spark-x) answering: think about it"
    )


async def test_x1_max_tokens_caps_reasoning_and_answer(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame("q", domain="spark-x", max_tokens=25), version="x1")
    assert result.last["payload"]["usage"]["text"]["completion_tokens"] == 25


async def test_extra_endpoint(sim: SparkSimulator) -> None:
    assert (
        sim.url_for("mydomain") == sim.url_for("/v1.1/chat_custom") == sim.url + "/v1.1/chat_custom"
    )
    result = await exchange(sim, chat_frame(domain="mydomain"), version="mydomain")
    assert result.content.startswith("This is the Spark simulator (mydomain) answering")
    wrong = await exchange(sim, chat_frame(domain="generalv3.5"), version="mydomain")
    assert wrong.frames[0]["header"]["code"] == 10003


def test_url_for(sim: SparkSimulator) -> None:
    assert sim.url.startswith("ws://127.0.0.1:")
    assert sim.url_for("v3.5") == sim.url + "/v3.5/chat"
    assert sim.url_for("generalv3.5") == sim.url + "/v3.5/chat"
    assert sim.url_for("Spark-Max") == sim.url + "/v3.5/chat"
    assert sim.url_for("lite") == sim.url + "/v1.1/chat"
    assert sim.url_for("pro-128k") == sim.url + "/chat/pro-128k"
    assert sim.url_for("x1") == sim.url + "/v1/x1"
    with pytest.raises(ValueError, match="unknown Spark version"):
        sim.url_for("gpt-4")


def test_url_needs_a_started_simulator() -> None:
    with pytest.raises(RuntimeError):
        _ = SparkSimulator().url


async def test_second_frame_while_answering_is_10007(sim: SparkSimulator) -> None:
    sim.faults = Faults(first_frame_delay=30)  # the answer is in progress for 30 s
    started = time.monotonic()
    async with connect(signed_url(sim)) as ws:
        await ws.send(json.dumps(chat_frame("one")))
        await ws.send(json.dumps(chat_frame("two")))
        result = await read_all(ws)
    assert time.monotonic() - started < 10
    [frame] = result.frames
    assert frame["header"]["code"] == 10007
    assert frame["header"]["message"].startswith("AppIdFlowError:(")
    assert "用户流量受限：服务正在处理用户当前的问题" in frame["header"]["message"]
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    assert [r["payload"]["message"]["text"][0]["content"] for r in sim.requests] == ["one", "two"]


async def test_second_frame_after_some_content_is_10007(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=2)
    async with connect(signed_url(sim)) as ws:
        await ws.send(json.dumps(chat_frame("one")))
        first = [json.loads(await ws.recv()) for _ in range(2)]
        await ws.send(json.dumps(chat_frame("two")))
        result = await read_all(ws)
    assert [f["header"]["status"] for f in first] == [0, 1]
    assert_error(
        result, 10007, "AppIdFlowError", result.frames[0]["header"]["message"].split(") ", 1)[1]
    )
    assert result.frames[0]["header"]["sid"] == first[0]["header"]["sid"]


async def test_idle_connection_is_closed(make_sim: Callable[..., SparkSimulator]) -> None:
    async with make_sim(idle_timeout=0.2) as sim:
        started = time.monotonic()
        async with connect(signed_url(sim)) as ws:
            with pytest.raises(ConnectionClosedOK) as caught:
                await ws.recv()
        assert time.monotonic() - started >= 0.2
        assert caught.value.rcvd is not None
        assert (caught.value.rcvd.code, caught.value.rcvd.reason) == (1000, "time out")
        await sim.wait_closed_all()
        assert sim.open_connections == 0


def test_default_idle_timeout_is_60_s() -> None:
    """Spec 2.1: the request must come within 60 s of the handshake."""
    assert SparkSimulator().idle_timeout == DEFAULT_IDLE_TIMEOUT == 60


async def test_client_leaving_mid_answer_closes_the_connection(sim: SparkSimulator) -> None:
    sim.faults = Faults(hang_after=1)
    async with connect(signed_url(sim)) as ws:
        await ws.send(json.dumps(chat_frame()))
        await ws.recv()
        assert sim.open_connections == 1
    await sim.wait_closed_all()
    assert sim.open_connections == 0


async def test_client_aborting_mid_answer_closes_the_connection(sim: SparkSimulator) -> None:
    sim.faults = Faults(frame_delay=0.01, chunks=200)
    async with connect(signed_url(sim)) as ws:
        await ws.send(json.dumps(chat_frame()))
        await ws.recv()
        ws.transport.abort()
    await sim.wait_closed_all()
    assert sim.open_connections == 0


async def test_many_concurrent_connections(sim: SparkSimulator) -> None:
    results = await asyncio.gather(*(exchange(sim, chat_frame(f"q{i}")) for i in range(20)))
    assert all(r.last["header"]["status"] == 2 for r in results)
    assert len({r.frames[0]["header"]["sid"] for r in results}) == 20
    await sim.wait_closed_all()
    assert sim.open_connections == 0


async def test_stop_closes_hanging_and_delayed_connections(
    make_sim: Callable[..., SparkSimulator],
) -> None:
    sim = make_sim()
    await sim.start()
    sim.faults = Faults(hang_after=0)
    ws = await connect(signed_url(sim))
    await ws.send(json.dumps(chat_frame()))
    sim.faults = Faults(handshake_delay=30)
    pending = asyncio.ensure_future(connect(signed_url(sim)))
    await asyncio.wait_for(until(lambda: sim.open_connections == 2), timeout=5)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 5
    assert sim.open_connections == 0
    with pytest.raises(ConnectionClosedOK):
        await ws.recv()
    assert ws.close_code == 1001
    with pytest.raises(Exception):  # noqa: B017 - refused or reset, either way not a connection
        await pending
    await sim.stop()  # idempotent


async def test_function_result_coming_back_gets_a_text_answer(sim: SparkSimulator) -> None:
    history = [
        {"role": "user", "content": "please call get_weather for 合肥"},
        {"role": "assistant", "content": '使用工具：get_weather，参数：{"city":"合肥"}'},
        {"role": "user", "content": '工具 get_weather 的返回结果：\n{"temp": 21}'},
    ]
    result = await exchange(sim, chat_frame(messages=history, functions=[WEATHER]))
    assert len(result.frames) > 1
    assert result.content.startswith("This is the Spark simulator (generalv3.5) answering: 工具")
    again = [
        *history,
        {"role": "assistant", "content": "21 度"},
        {"role": "user", "content": "get_weather 北京"},
    ]
    result = await exchange(sim, chat_frame(messages=again, functions=[WEATHER]))
    assert (
        result.frames[0]["payload"]["choices"]["text"][0]["function_call"]["name"] == "get_weather"
    )


async def test_an_argument_sharing_a_function_name_does_not_hide_that_function(
    sim: SparkSimulator,
) -> None:
    city = {
        "name": "City",
        "description": "the answer as a city record",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    history = [
        {"role": "user", "content": "get_weather 合肥"},
        {"role": "assistant", "content": '使用工具：get_weather，参数：{"city":"合肥"}'},
        {"role": "user", "content": "工具 get_weather 的返回结果：21 度。Answer with City."},
    ]
    result = await exchange(sim, chat_frame(messages=history, functions=[WEATHER, city]))
    call = result.frames[0]["payload"]["choices"]["text"][0]["function_call"]
    assert call["name"] == "City"  # get_weather was just called; "city" is only its argument
