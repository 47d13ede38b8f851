"""Ignored hints are named in a response header (and the log); strict_params refuses them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from asgi_spark import create_app
from asgi_spark.simulator import SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate
from tests.seams.fakes import request

BODY = {
    "model": "m",
    "seed": 7,
    "top_p": 0.5,
    "logit_bias": {"1": 2},
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


@pytest.mark.parametrize("stream", [False, True])
async def test_ignored_hints_are_named_in_a_header_and_the_log(
    sim: SparkSimulator, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = create_app([spark_entry("m", sim.url)])
    async with gateway.lifespan():
        with caplog.at_level(logging.INFO, "asgi_spark"):
            r = await request(gateway, "POST", "/v1/chat/completions", {**BODY, "stream": stream})
    assert r.status == 200
    assert dict(r.headers)[b"x-asgi-spark-ignored-params"] == b"top_p, logit_bias, seed"
    assert "ignored=top_p,logit_bias,seed" in caplog.text
    assert "seed" not in sim.requests[-1]["parameter"]["chat"]


async def test_no_header_when_nothing_is_ignored(sim: SparkSimulator) -> None:
    gateway = create_app([spark_entry("m", sim.url)])
    async with gateway.lifespan():
        r = await request(
            gateway, "POST", "/v1/chat/completions", {"model": "m", "messages": BODY["messages"]}
        )
    assert b"x-asgi-spark-ignored-params" not in dict(r.headers)


async def test_strict_params_refuses_the_first_ignorable_hint(sim: SparkSimulator) -> None:
    gateway = create_app([spark_entry("m", sim.url, strict_params=True)])
    async with gateway.lifespan():
        r = await request(gateway, "POST", "/v1/chat/completions", BODY)
    assert r.status == 400
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == "top_p"
    assert r.json()["error"]["code"] == "unsupported_parameter"
    assert sim.requests == []


@pytest.mark.parametrize("strict", [False, True])
async def test_required_without_tools_is_ignored_or_refused_when_strict(
    sim: SparkSimulator, strict: bool
) -> None:
    gateway = create_app([spark_entry("m", sim.url, strict_params=strict)])
    body = {"model": "m", "tool_choice": "required", "messages": BODY["messages"]}
    async with gateway.lifespan():
        r = await request(gateway, "POST", "/v1/chat/completions", body)
    if strict:
        assert r.status == 400
        error = r.json()["error"]
        assert (error["param"], error["code"]) == ("tool_choice", "unsupported_parameter")
        assert '"required" without tools has nothing to require' in error["message"]
        assert sim.requests == []
    else:  # LlamaIndex's structured_predict on a chat model without function calling
        assert r.status == 200
        assert dict(r.headers)[b"x-asgi-spark-ignored-params"] == b"tool_choice"
        assert r.json()["choices"][0]["message"]["content"]
        assert "functions" not in sim.requests[-1]["payload"]
