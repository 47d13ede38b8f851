"""The ``openai`` SDK (3.x in the ``compat`` venv, 2.x in ``compat-openai2``): chat, streaming,
usage, tools, ``parse``, the Responses API and legacy completions."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

from .conftest import MODEL

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


class City(pydantic.BaseModel):
    name: str
    population: int


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def test_version_is_a_supported_major() -> None:
    assert openai.__version__.split(".")[0] in ("2", "3")


def test_chat(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}]
    )
    assert completion.choices[0].finish_reason == "stop"
    assert "answering: Hello" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "answering: Hello" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_chat_stream_helper(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        final = stream.get_final_completion()
    assert "answering: Hello" in (final.choices[0].message.content or "")


def test_tool_round_trip(client: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "What does get_weather say for Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=ask, tools=TOOLS)  # type: ignore[arg-type]
    call = (first.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample"}
    messages = [
        *ask,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21 degrees"},
    ]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].finish_reason == "stop"


def test_chat_parse(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "A city"}], response_format=City
    )
    assert isinstance(completion.choices[0].message.parsed, City)


def test_chat_forced_tool_choice(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert completion.choices[0].finish_reason == "tool_calls"


def test_stop(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello"}], stop=["simulator"]
    )
    assert completion.choices[0].message.content == "This is the Spark "


def test_responses_create(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="Hello", instructions="Be brief.")
    assert response.status == "completed"
    assert "answering: Hello" in response.output_text


def test_responses_stream(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="Hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and "answering: Hello" in final.output_text


def test_responses_tools_and_previous_response_id(client: openai.OpenAI) -> None:
    tool = {"type": "function", "name": "get_weather", **TOOLS[0]["function"]}  # type: ignore[dict-item]
    tool.pop("function", None)
    first = client.responses.create(
        model=MODEL,
        input="What does get_weather say for Paris?",
        tools=[tool],  # type: ignore[list-item]
    )
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 C"}],
        tools=[tool],  # type: ignore[list-item]
    )
    assert second.status == "completed" and second.output_text


def test_responses_parse(client: openai.OpenAI) -> None:
    response = client.responses.parse(model=MODEL, input="A city", text_format=City)
    assert isinstance(response.output_parsed, City)


def test_legacy_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="Say this is a test", max_tokens=30)
    assert "answering: Say this is a test" in completion.choices[0].text
    streamed = client.completions.create(
        model=MODEL, prompt="Say this is a test", max_tokens=30, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == completion.choices[0].text
