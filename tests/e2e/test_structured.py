"""Structured output and forced tool choice through the official ``openai`` SDK: ``parse`` with
a pydantic model, ``json_object``, ``json_schema`` on a model without function calling, forced
and required tool choice, and the clear error when the model's answers do not fit."""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel

from tests.openapi import validate

from .server import ServedGateway


class City(BaseModel):
    name: str
    province: str


class Person(BaseModel):
    name: str
    age: int
    kind: Literal["student", "teacher"]
    cities: list[City]
    nickname: str | None


ASK = [{"role": "user", "content": "介绍一位合肥的老师"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "天气",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {}}}


@pytest.mark.parametrize("model", ["spark-max", "spark-lite"])
def test_parse_gives_a_valid_pydantic_object(
    client: openai.OpenAI, gateway: ServedGateway, model: str
) -> None:
    completion = client.chat.completions.parse(model=model, messages=ASK, response_format=Person)
    message = completion.choices[0].message
    assert isinstance(message.parsed, Person)
    assert message.refusal is None
    assert completion.choices[0].finish_reason == "stop"
    assert message.tool_calls in (None, [])
    sent = gateway.simulator.requests[-1]  # type: ignore[union-attr]
    functions = sent["payload"].get("functions", {}).get("text", [])
    if model == "spark-max":  # function calling: the schema is a function to call
        assert [f["name"] for f in functions] == ["Person"]
    else:  # no function calling on Lite: an instruction carries the schema
        assert functions == []
        assert "JSON Schema:" in sent["payload"]["message"]["text"][-1]["content"]


def test_streamed_structured_output_arrives_whole_once_checked(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="spark-max", messages=ASK, response_format=Person
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Person)
    contents = [e for e in events if e.type == "content.delta" and e.delta]
    assert len(contents) == 1  # held until valid, then sent in one piece


@pytest.mark.parametrize("model", ["spark-max", "spark-lite"])
def test_json_object(client: openai.OpenAI, model: str) -> None:
    completion = client.chat.completions.create(
        model=model, messages=ASK, response_format={"type": "json_object"}
    )
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_a_named_tool_choice_is_a_call_of_that_tool(
    client: openai.OpenAI, gateway: ServedGateway
) -> None:
    completion = client.chat.completions.create(
        model="spark-max",
        messages=[{"role": "user", "content": "合肥明天怎么样"}],
        tools=[WEATHER, TIME],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments)["city"]  # type: ignore[union-attr]
    sent = gateway.simulator.requests[-1]  # type: ignore[union-attr]
    assert [f["name"] for f in sent["payload"]["functions"]["text"]] == ["get_weather"]


@pytest.mark.parametrize("stream", [False, True])
def test_required_tool_choice(client: openai.OpenAI, stream: bool) -> None:
    kwargs: dict[str, Any] = {
        "model": "spark-max",
        "messages": [{"role": "user", "content": "what now"}],
        "tools": [WEATHER, TIME],
        "tool_choice": "required",
    }
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **kwargs))
        names = [
            tc.function.name
            for c in chunks
            if c.choices
            for tc in c.choices[0].delta.tool_calls or []
            if tc.function
        ]
        assert names and names[0] in ("get_weather", "get_time")
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        completion = client.chat.completions.create(**kwargs)
        assert completion.choices[0].finish_reason == "tool_calls"


def test_a_tool_choice_naming_an_unknown_tool_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="spark-max",
            messages=ASK,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert info.value.body["param"] == "tool_choice"  # type: ignore[index]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("not json at all", "the model's answer is not valid JSON"),
        ('{"name": 3}', "does not fit the schema: $.name: expected string, got integer"),
    ],
)
def test_answers_that_do_not_fit_are_asked_again_then_a_clear_502(
    client: openai.OpenAI, gateway: ServedGateway, answer: str, problem: str
) -> None:
    before = len(gateway.simulator.requests)  # type: ignore[union-attr]
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    directive = f"[spark:answer={json.dumps(answer)}]"
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="spark-lite",
            messages=[{"role": "user", "content": f"name someone {directive}"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": schema, "strict": True},
            },
        )
    assert info.value.status_code == 502
    assert info.value.body["code"] == "structured_output_failed"  # type: ignore[index]
    assert problem in info.value.body["message"]  # type: ignore[index]
    assert "asked 2 times" in info.value.body["message"]  # type: ignore[index]
    assert len(gateway.simulator.requests) - before == 2  # type: ignore[union-attr]
