"""openai-agents with its default model class (``OpenAIResponsesModel``, the Responses API):
an agent with a function tool, run and streamed; ``output_type``."""

from __future__ import annotations

from collections.abc import Iterator

import pydantic
import pytest

agents = pytest.importorskip("agents", reason="in the compat venv only")

import openai  # noqa: E402
from agents import (  # noqa: E402
    Agent,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)

from .conftest import MODEL  # noqa: E402

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"It is sunny in {city}."


class City(pydantic.BaseModel):
    name: str
    population: int


@pytest.fixture(autouse=True)
def default_client(base_url: str) -> Iterator[None]:
    set_tracing_disabled(True)
    set_default_openai_client(
        openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0),
        use_for_tracing=False,
    )
    CALLS.clear()
    yield


def weather_agent() -> Agent:
    return Agent(
        name="weather",
        instructions="Answer with the help of your tools.",
        model=MODEL,
        tools=[get_weather],
    )


async def test_default_model_class_is_the_responses_api() -> None:
    model = agents.models.multi_provider.MultiProvider().get_model(MODEL)
    assert isinstance(model, OpenAIResponsesModel)


async def test_agent_with_a_tool() -> None:
    result = await Runner.run(weather_agent(), "What does get_weather say for Paris?")
    assert CALLS == ["sample"]
    assert isinstance(result.final_output, str) and result.final_output
    kinds = [item.type for item in result.new_items]
    assert kinds[:2] == ["tool_call_item", "tool_call_output_item"]
    assert kinds[-1] == "message_output_item"
    assert sum(r.usage.total_tokens for r in result.raw_responses) > 0


async def test_agent_streamed() -> None:
    result = Runner.run_streamed(weather_agent(), "What does get_weather say for Paris?")
    deltas = []
    async for event in result.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    assert CALLS == ["sample"]
    assert result.final_output and "".join(deltas) == result.final_output


async def test_agent_without_tools() -> None:
    agent = Agent(name="plain", instructions="Be brief.", model=MODEL)
    result = await Runner.run(agent, "Hello")
    assert "answering: Hello" in result.final_output


async def test_previous_response_id() -> None:
    agent = Agent(name="plain", instructions="Be brief.", model=MODEL)
    first = await Runner.run(agent, "My name is Ada.")
    second = await Runner.run(
        agent, "What is my name?", previous_response_id=first.last_response_id
    )
    assert second.final_output


async def test_output_type() -> None:
    agent = Agent(name="city", instructions="Name a city.", model=MODEL, output_type=City)
    result = await Runner.run(agent, "A city, please")
    assert isinstance(result.final_output, City)
