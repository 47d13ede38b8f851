"""Issue 7 item 3: the gateway sends its Spark request as ONE masked TEXT frame (opcode 0x1).

The proof is the capture server, which reads the gateway's bytes itself: the request goes
through uvicorn and the gateway with the official ``openai`` SDK, to every version of the version
table, streaming and not.  A simulator-level test shows the same from the other side: the
simulator, which refuses binary request frames, accepts the gateway's, and refuses the same
JSON sent as a binary frame.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import openai
import pytest

from asgi_spark.adapters.base import BinaryFrame, Exchange, TextFrame
from asgi_spark.adapters.spark.adapter import SparkAdapter
from asgi_spark.adapters.spark.translate import Translator
from asgi_spark.adapters.spark.versions import SparkVersion, versions
from asgi_spark.config import build_adapters, load_config
from asgi_spark.events import ContentDelta, Event, Failed, Finish
from asgi_spark.openai_types import ChatCompletionRequest
from asgi_spark.simulator import SparkSimulator
from asgi_spark.simulator.errors import BINARY_FRAME_DETAIL
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry

from .capture import DEFAULT_ANSWER, OP_CLOSE, OP_TEXT, SPARK_CLOSE_REASON, Captured, CaptureServer
from .conftest import model_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERSIONS = versions()
QUESTION = "wire check: 你好，星火"


async def ask(aclient: openai.AsyncOpenAI, version: SparkVersion, *, stream: bool) -> str:
    messages: Any = [{"role": "user", "content": QUESTION}]
    if stream:
        chunks = await aclient.chat.completions.create(
            model=model_id(version.name), messages=messages, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    completion = await aclient.chat.completions.create(
        model=model_id(version.name), messages=messages
    )
    return completion.choices[0].message.content or ""


def assert_one_text_request(conn: Captured, version: SparkVersion) -> dict[str, Any]:
    """The checks of item 3 on one captured connection; returns the decoded request."""
    assert conn.violations == []
    assert conn.path == version.path
    assert conn.header("Sec-WebSocket-Extensions") is None, "no compression may be offered"
    (data,) = conn.data_frames  # exactly one data frame
    assert data.opcode == OP_TEXT, f"opcode 0x{data.opcode:x}, not a text frame"
    assert data.fin and data.masked and data.rsv == (False, False, False)
    request = json.loads(data.payload.decode("utf-8"))  # strict UTF-8, then JSON
    assert conn.messages == [(OP_TEXT, data.payload)]
    assert conn.opcodes == [OP_TEXT, OP_CLOSE], "one text frame, then the close frame"
    assert conn.pings == []
    # The gateway answers Spark's close: 1000, echoing the reason when the close frame was
    # read before the gateway finished, or its own empty reason when it finished first.
    assert conn.close_code == 1000
    assert conn.close_reason in (SPARK_CLOSE_REASON, "")
    assert not conn.eof_without_close
    return request  # type: ignore[no-any-return]


def assert_spark_shape(request: dict[str, Any], version: SparkVersion) -> None:
    """The request has Spark's shape (spec section 2) for ``version``."""
    assert set(request) == {"header", "parameter", "payload"}
    assert request["header"] == {"app_id": APP_ID}
    chat = request["parameter"]["chat"]
    assert chat["domain"] == version.domain
    low, high = version.max_tokens
    assert low <= chat["max_tokens"] <= high
    assert set(request["payload"]) == {"message"}
    assert request["payload"]["message"]["text"] == [{"role": "user", "content": QUESTION}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("version", VERSIONS, ids=[row.name for row in VERSIONS])
async def test_gateway_sends_one_masked_text_frame(
    aclient: openai.AsyncOpenAI, upstream: CaptureServer, version: SparkVersion, stream: bool
) -> None:
    try:
        answer: str | openai.APIError = await ask(aclient, version, stream=stream)
    except openai.APIError as exc:  # the wire is checked first: it says why
        answer = exc
    conn = await upstream.completed()
    request = assert_one_text_request(conn, version)
    assert_spark_shape(request, version)
    assert answer == "".join(DEFAULT_ANSWER)


# ---------------------------------------------------------------- simulator level


class BinarySparkAdapter(SparkAdapter):
    """The same adapter sending its frame the way the gateway did before the fix."""

    def convert_request(self, request: ChatCompletionRequest) -> Exchange[Translator]:
        exchange = super().convert_request(request)
        return Exchange(
            frames=[_as_binary(frame) for frame in exchange.frames], state=exchange.state
        )


def _as_binary(frame: object) -> BinaryFrame:
    assert isinstance(frame, TextFrame)
    data = frame.data
    return BinaryFrame(data.encode() if isinstance(data, str) else data)


def _request() -> ChatCompletionRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    return msgspec.json.decode(json.dumps(body), type=ChatCompletionRequest)


async def _events(adapter: SparkAdapter) -> list[Event]:
    stream = adapter.stream(_request())
    try:
        return [event async for batch in stream for event in batch]
    finally:
        await stream.aclose()


async def test_the_simulator_accepts_the_gateways_text_frame_and_refuses_binary() -> None:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as sim:
        config = load_config([spark_entry("m", sim.url)])
        (adapter,) = build_adapters(config).values()
        assert isinstance(adapter, SparkAdapter)
        exchange = adapter.convert_request(_request())
        assert all(isinstance(frame, TextFrame) for frame in exchange.frames)

        events = await _events(adapter)
        assert not [e for e in events if isinstance(e, Failed)]
        assert any(isinstance(e, ContentDelta) for e in events)
        assert any(isinstance(e, Finish) for e in events)
        assert sim.requests[-1]["payload"]["message"]["text"][-1]["content"] == "hello"

        binary = BinarySparkAdapter(adapter.entry)
        (failed,) = [e for e in await _events(binary) if isinstance(e, Failed)]
        assert "Spark 10001" in str(failed.error)
        assert BINARY_FRAME_DETAIL in str(failed.error)
        await asyncio.wait_for(sim.wait_closed_all(), 5)
