"""Policies compose around the adapter; the adapter seam enforces the event contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from asgi_spark import create_app, register_adapter
from asgi_spark.completion import StreamEncoder
from asgi_spark.events import ContentDelta, Event, Failed, Finish, Started
from asgi_spark.openai_types import request_decoder
from asgi_spark.pipeline import Call, CallNext, RequestContext, Source, adapter_call, compose
from asgi_spark.registry import unregister_adapter
from tests.openapi import validate

from .fakes import HELLO, ScriptedAdapter, chat, entry, model_entry, request

BODY = request_decoder.decode(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')


def _call(model: str = "m") -> Call:
    return Call(BODY, model, RequestContext(endpoint="chat.completions", requested_model=model))


async def _drain(source: Source) -> list[list[Event]]:
    return [batch async for batch in source]


async def test_compose_puts_the_first_policy_outermost() -> None:
    seen: list[str] = []

    def tag(name: str):  # type: ignore[no-untyped-def]
        async def policy(call: Call, call_next: CallNext) -> Source:
            seen.append(f"enter {name}")
            async for batch in call_next(call):
                yield batch
            seen.append(f"leave {name}")

        return policy

    async def innermost(call: Call) -> Source:
        seen.append(f"adapter {call.model}")
        yield [Started("s"), Finish("stop")]

    call_next = compose([tag("outer"), tag("inner")], innermost)
    assert await _drain(call_next(_call())) == [[Started("s"), Finish("stop")]]
    assert seen == ["enter outer", "enter inner", "adapter m", "leave inner", "leave outer"]


async def test_a_policy_can_call_another_model() -> None:
    async def fallback(call: Call, call_next: CallNext) -> Source:
        async for batch in call_next(replace(call, model="other")):
            yield batch

    async def innermost(call: Call) -> Source:
        yield [Started(call.model), Finish("stop")]

    batches = await _drain(compose([fallback], innermost)(_call()))
    assert batches[0][0] == Started("other")


class _NoStart(ScriptedAdapter):
    name = "no_start"
    script = ([ContentDelta("hi"), Finish("stop")],)


class _NoEnd(ScriptedAdapter):
    name = "no_end"
    script = ([Started("s"), ContentDelta("hi")],)


async def test_adapter_call_counts_the_attempt_and_the_answering_model() -> None:
    call = _call()
    batches = await _drain(adapter_call(ScriptedAdapter(model_entry()))(call))
    assert batches == HELLO
    assert (call.context.attempts, call.context.answered_by) == (1, "m")


@pytest.mark.parametrize(
    ("adapter", "rule"),
    [(_NoStart, "an answer must begin with Started"), (_NoEnd, "must end with Finish or Failed")],
)
async def test_a_broken_adapter_becomes_one_named_failure(
    adapter: type[ScriptedAdapter], rule: str, caplog: pytest.LogCaptureFixture
) -> None:
    batches = await _drain(adapter_call(adapter(model_entry()))(_call()))
    last = batches[-1]
    assert len(last) == 1 and isinstance(last[0], Failed)
    assert f"adapter '{adapter.name}' broke the event contract" in last[0].error.message
    assert rule in last[0].error.message
    assert rule in caplog.text


def test_without_the_seam_the_encoder_would_write_invalid_json() -> None:
    """Why the contract is enforced: the encoder trusts it (the bug the seam closes)."""
    data = StreamEncoder("m", 1).encode([ContentDelta("hi"), Finish("stop")])
    with pytest.raises(ValueError):
        json.loads(data.removeprefix(b"data: ").strip())


@pytest.fixture
def broken_adapters() -> Iterator[None]:
    register_adapter("no_start", _NoStart)
    register_adapter("no_end", _NoEnd)
    yield
    unregister_adapter("no_start")
    unregister_adapter("no_end")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["no_start", "no_end"])
async def test_through_the_gateway_a_contract_violation_is_a_named_error(
    broken_adapters: None, stream: bool, model: str
) -> None:
    gateway = create_app([entry(model, adapter=model)])
    async with gateway.lifespan():
        response = await request(
            gateway, "POST", "/v1/chat/completions", chat(model, stream=stream)
        )
    if model == "no_start" or not stream:
        assert response.status == 500
        error = response.json()
        validate("ErrorResponse", error)
    else:  # the stream had begun: one error event, no [DONE]
        assert response.status == 200
        events = response.body.decode().strip().split("\n\n")
        assert "[DONE]" not in events[-1]
        error = json.loads(events[-1].removeprefix("data: "))
    assert error["error"]["code"] == "adapter_contract_violation"
    assert f"adapter '{model}'" in error["error"]["message"]
