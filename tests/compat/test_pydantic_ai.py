"""pydantic-ai: an agent with a tool on ``OpenAIChatModel`` (Chat Completions) and
``OpenAIResponsesModel`` (the Responses API), streamed text, and ``output_type``."""

from __future__ import annotations

import pydantic
import pytest

pytest.importorskip("pydantic_ai", reason="in the compat venv only")

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from .conftest import MODEL

CALLS: list[str] = []


class City(pydantic.BaseModel):
    name: str
    population: int


def provider(base_url: str) -> OpenAIProvider:
    return OpenAIProvider(base_url=base_url, api_key="unused")


def weather_agent(model: OpenAIChatModel | OpenAIResponsesModel) -> Agent[None, str]:
    agent = Agent(model, instructions="Answer with the help of your tools.")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        CALLS.append(city)
        return f"It is sunny in {city}."

    return agent


@pytest.fixture(params=["chat", "responses"])
def model(request: pytest.FixtureRequest, base_url: str) -> OpenAIChatModel | OpenAIResponsesModel:
    CALLS.clear()
    kind = OpenAIChatModel if request.param == "chat" else OpenAIResponsesModel
    return kind(MODEL, provider=provider(base_url))


async def test_run(model: OpenAIChatModel | OpenAIResponsesModel) -> None:
    result = await Agent(model, instructions="Be brief.").run("Hello")
    assert "answering: Hello" in result.output
    assert result.usage.total_tokens > 0


async def test_tool(model: OpenAIChatModel | OpenAIResponsesModel) -> None:
    result = await weather_agent(model).run("What does get_weather say for Paris?")
    assert CALLS == ["sample"]
    assert isinstance(result.output, str) and result.output


async def test_stream_text(model: OpenAIChatModel | OpenAIResponsesModel) -> None:
    agent = Agent(model, instructions="Be brief.")
    async with agent.run_stream("Hello") as run:
        pieces = [piece async for piece in run.stream_text(delta=True, debounce_by=None)]
    assert len(pieces) > 1 and "answering: Hello" in "".join(pieces)


async def test_output_type(model: OpenAIChatModel | OpenAIResponsesModel) -> None:
    result = await Agent(model, output_type=City).run("Name a city")
    assert isinstance(result.output, City)
