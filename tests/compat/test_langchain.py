"""LangChain: ``langchain-openai``'s ChatOpenAI (Chat Completions and its Responses API mode),
``bind_tools``, ``with_structured_output`` in every method, langgraph's tool loop, and
langchain 1.x ``create_agent``."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
import pytest

pytest.importorskip("langchain_openai", reason="in the compat venv only")
pytest.importorskip("langgraph", reason="in the compat venv only")

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAI
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from typing_extensions import TypedDict

from .conftest import MODEL
from .directives import answer

CALLS: list[str] = []
PARIS_ANSWER = answer({"name": "Paris", "population": 2100000})


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"It is sunny in {city}."


class City(pydantic.BaseModel):
    """A city."""

    name: str
    population: int


@pytest.fixture
def llm(base_url: str) -> ChatOpenAI:
    CALLS.clear()
    return ChatOpenAI(model=MODEL, base_url=base_url, api_key="unused", max_retries=0)


def test_invoke(llm: ChatOpenAI) -> None:
    answer = llm.invoke("Hello")
    assert isinstance(answer, AIMessage) and "answering: Hello" in str(answer.content)
    assert answer.usage_metadata is not None and answer.usage_metadata["total_tokens"] > 0


def test_stream_with_usage(base_url: str) -> None:
    llm = ChatOpenAI(
        model=MODEL, base_url=base_url, api_key="unused", max_retries=0, stream_usage=True
    )
    chunks = list(llm.stream("Hello"))
    whole: Any = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert "answering: Hello" in whole.content
    assert whole.usage_metadata is not None and whole.usage_metadata["total_tokens"] > 0


async def test_ainvoke_and_batch(llm: ChatOpenAI) -> None:
    answer = await llm.ainvoke("Hello")
    assert "answering: Hello" in str(answer.content)
    answers = await llm.abatch(["one", "two"])
    assert "answering: one" in str(answers[0].content)
    assert "answering: two" in str(answers[1].content)


def test_bind_tools_round_trip(llm: ChatOpenAI) -> None:
    with_tools = llm.bind_tools([get_weather])
    question = HumanMessage("What does get_weather say for Paris?")
    first = with_tools.invoke([question])
    assert isinstance(first, AIMessage) and first.tool_calls
    call = first.tool_calls[0]
    assert call["name"] == "get_weather" and call["args"] == {"city": "sample"}
    result = get_weather.invoke(call["args"])
    second = with_tools.invoke(
        [question, first, ToolMessage(result, tool_call_id=call["id"] or "")]
    )
    assert second.content and not second.tool_calls


def test_bind_tools_forced(llm: ChatOpenAI) -> None:
    answer = llm.bind_tools([get_weather], tool_choice="any").invoke("Hello")
    assert isinstance(answer, AIMessage) and answer.tool_calls


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output(llm: ChatOpenAI, method: Any) -> None:
    structured = llm.with_structured_output(City, method=method)
    city = structured.invoke("Name a city and its population")
    assert isinstance(city, City)


def test_with_structured_output_json_mode(base_url: str) -> None:
    # json_mode asks for JSON only (the schema is in the prompt for the model to follow): the
    # directive stands in for a model that follows it.  Spark Lite has no function calling, so
    # the gateway emulates JSON mode by an instruction and checks that the answer is JSON.
    lite = ChatOpenAI(model="spark-lite", base_url=base_url, api_key="unused", max_retries=0)
    structured = lite.with_structured_output(City, method="json_mode")
    city = structured.invoke(f"Name a city, as JSON with name and population. {PARIS_ANSWER}")
    assert city == City(name="Paris", population=2100000)


def test_responses_api_mode(base_url: str) -> None:
    llm = ChatOpenAI(
        model=MODEL, base_url=base_url, api_key="unused", max_retries=0, use_responses_api=True
    )
    answer = llm.invoke("Hello")
    assert "answering: Hello" in answer.text
    streamed = "".join(chunk.text for chunk in llm.stream("Hello"))
    assert streamed == answer.text
    first = llm.bind_tools([get_weather]).invoke("What does get_weather say for Paris?")
    assert first.tool_calls and first.tool_calls[0]["name"] == "get_weather"


def test_legacy_completions_llm(base_url: str) -> None:
    llm = OpenAI(model=MODEL, base_url=base_url, api_key="unused", max_retries=0, max_tokens=40)
    assert "answering: Say this is a test" in llm.invoke("Say this is a test")


# ---------------------------------------------------------------------------------- langgraph


class State(TypedDict):
    messages: Annotated[list[Any], add_messages]


def test_langgraph_tool_loop(llm: ChatOpenAI) -> None:
    model = llm.bind_tools([get_weather])

    def call_model(state: State) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(State)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    app = graph.compile()
    out = app.invoke({"messages": [HumanMessage("What does get_weather say for Paris?")]})
    kinds = [type(m).__name__ for m in out["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert CALLS == ["sample"] and out["messages"][-1].content
    assert END == "__end__"


async def test_langgraph_streams_tokens(llm: ChatOpenAI) -> None:
    def call_model(state: State) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(State)
    graph.add_node("model", call_model)
    graph.add_edge(START, "model")
    app = graph.compile()
    tokens = [
        chunk.content
        async for chunk, _ in app.astream(
            {"messages": [HumanMessage("Hello")]}, stream_mode="messages"
        )
    ]
    assert len(tokens) > 1 and "answering: Hello" in "".join(str(t) for t in tokens)


# ------------------------------------------------------------------------ langchain 1.x agents


def test_create_agent_with_a_tool(llm: ChatOpenAI) -> None:
    agent = create_agent(llm, tools=[get_weather], system_prompt="Use your tools.")
    out = agent.invoke({"messages": [HumanMessage("What does get_weather say for Paris?")]})
    assert CALLS == ["sample"]
    assert isinstance(out["messages"][-1], AIMessage) and out["messages"][-1].content


def test_create_agent_response_format(llm: ChatOpenAI) -> None:
    agent = create_agent(llm, response_format=City)
    out = agent.invoke({"messages": [HumanMessage("Name a city")]})
    assert isinstance(out["structured_response"], City)


def test_create_agent_response_format_beside_tools(llm: ChatOpenAI) -> None:
    agent = create_agent(llm, tools=[get_weather], response_format=City)
    out = agent.invoke({"messages": [HumanMessage("Name a city")]})
    assert isinstance(out["structured_response"], City)
