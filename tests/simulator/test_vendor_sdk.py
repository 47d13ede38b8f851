"""The official iFlytek Python SDK (spark-ai-python) against the simulator, as against the cloud.

The SDK is synchronous (websocket-client in a thread), so it runs in ``asyncio.to_thread`` while
the simulator serves on this event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from sparkai.core.messages import ChatMessage
from sparkai.errors import SparkAIConnectionError
from sparkai.llm.llm import ChatSparkLLM

from asgi_spark.simulator import Faults, SparkSimulator, count_tokens

from .helpers import API_KEY, API_SECRET, APP_ID


def _client(sim: SparkSimulator, *, secret: str = API_SECRET, streaming: bool = False) -> Any:
    return ChatSparkLLM(
        spark_api_url=sim.url_for("v3.5"),
        spark_app_id=APP_ID,
        spark_api_key=API_KEY,
        spark_api_secret=secret,
        spark_llm_domain="generalv3.5",
        streaming=streaming,
        request_timeout=10,
    )


@pytest.mark.parametrize("streaming", [False, True])
async def test_sdk_gets_a_full_answer_with_usage(sim: SparkSimulator, streaming: bool) -> None:
    llm = _client(sim, streaming=streaming)
    result = await asyncio.to_thread(
        llm.generate, [[ChatMessage(role="user", content="你好，星火")]]
    )
    text = result.generations[0][0].text
    assert text.startswith("This is the Spark simulator (generalv3.5) answering: 你好，星火")
    assert text.endswith("不代表真实模型的观点。")
    usage = result.llm_output["token_usage"]
    assert usage["question_tokens"] == usage["prompt_tokens"] == count_tokens("你好，星火")
    assert usage["completion_tokens"] == count_tokens(text)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    request = sim.requests[-1]
    assert request["header"] == {"app_id": APP_ID, "uid": "spark_sdk_user"}
    assert request["parameter"]["chat"]["max_tokens"] == 2048


async def test_sdk_sees_error_frames(sim: SparkSimulator) -> None:
    sim.faults = Faults(error_code=11202)
    llm = _client(sim)
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(llm.generate, [[ChatMessage(role="user", content="hi")]])
    assert caught.value.error_code == 11202
    assert "AppIdQpsOverFlowError" in str(caught.value)


async def test_sdk_with_a_wrong_secret_is_refused(sim: SparkSimulator) -> None:
    llm = _client(sim, secret="wrong-secret")
    with pytest.raises(SparkAIConnectionError) as caught:
        await asyncio.to_thread(llm.generate, [[ChatMessage(role="user", content="hi")]])
    message = str(caught.value)
    assert "401" in message
    assert "HMAC signature does not match" in message


async def test_sdk_with_a_skewed_clock_is_refused(make_sim: Callable[..., SparkSimulator]) -> None:
    async with make_sim(clock=lambda: time.time() + 3600) as sim:
        llm = _client(sim)
        with pytest.raises(SparkAIConnectionError) as caught:
            await asyncio.to_thread(llm.generate, [[ChatMessage(role="user", content="hi")]])
        message = str(caught.value)
        assert "403" in message
        assert "a valid date or x-date header is required" in message
        await sim.wait_closed_all()
