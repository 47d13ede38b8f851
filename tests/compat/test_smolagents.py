"""smolagents: ``CodeAgent`` (stop sequences, code run from the answer) and
``ToolCallingAgent`` (forced tool choice) on ``OpenAIServerModel``.

A simulator directive in the task sets the answer to the start of a code block (without the
closing tag, which smolagents adds itself, as it does after a stop sequence), so the
``CodeAgent``'s first step runs that code: the model call with smolagents' own ``stop``
sequences, its parsing of the answer and the tool call all happen for real."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("smolagents", reason="in the compat venv only")

from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool

from .conftest import MODEL

CALLS: list[str] = []


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    CALLS.append(city)
    return f"It is sunny in {city}."


@pytest.fixture
def model(base_url: str) -> OpenAIServerModel:
    CALLS.clear()
    return OpenAIServerModel(model_id=MODEL, api_base=base_url, api_key="unused")


def test_model_generate_cut_by_stop(model: OpenAIServerModel) -> None:
    from smolagents.models import ChatMessage, MessageRole

    message = ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "Hello"}])
    answer = model.generate([message], stop_sequences=["Observation:", "simulator"])
    assert answer.content == "This is the Spark "
    assert answer.token_usage is not None and answer.token_usage.output_tokens > 0


def test_code_agent_first_step(model: OpenAIServerModel) -> None:
    sent: list[dict[str, Any]] = []
    create = model.client.chat.completions.create

    def recording(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return create(**kwargs)

    model.client.chat.completions.create = recording
    agent = CodeAgent(tools=[get_weather], model=model, max_steps=1, verbosity_level=0)
    code = "<code>final_answer(get_weather('Paris'))"
    result = agent.run(f'What is the weather in Paris? [spark:answer="{code}"]')
    assert CALLS == ["Paris"]
    assert result == "It is sunny in Paris."
    assert len(sent) == 1 and {"Observation:", "Calling tools:"} <= set(sent[0]["stop"])


def test_tool_calling_agent(model: OpenAIServerModel) -> None:
    agent = ToolCallingAgent(tools=[get_weather], model=model, max_steps=2, verbosity_level=0)
    agent.run("What does get_weather say for Paris?")
    assert CALLS == ["sample"]
