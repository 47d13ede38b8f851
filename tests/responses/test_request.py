"""The Responses request → Chat request translation (no sockets)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asgi_spark.errors import InvalidRequestError, UnsupportedParameterError
from asgi_spark.openai_types import ChatMessage
from asgi_spark.responses_request import translate
from asgi_spark.responses_types import ResponsesRequest, request_decoder


def request(**fields: Any) -> ResponsesRequest:
    fields.setdefault("model", "m")
    fields.setdefault("input", "hi")
    return request_decoder.decode(msgspec.json.encode(fields))


def roles(messages: list[ChatMessage]) -> list[str]:
    return [m.role for m in messages]


def test_text_input_and_instructions() -> None:
    t = translate(request(input="hello", instructions="be brief"))
    assert [(m.role, m.content) for m in t.chat.messages] == [
        ("system", "be brief"),
        ("user", "hello"),
    ]
    assert [(m.role, m.content) for m in t.conversation] == [("user", "hello")], (
        "instructions are not stored with the conversation"
    )


def test_previous_conversation_comes_after_the_instructions() -> None:
    previous = (
        ChatMessage(role="user", content="first"),
        ChatMessage(role="assistant", content="answer"),
    )
    t = translate(request(input="second", instructions="new rules"), previous)
    assert [m.content for m in t.chat.messages] == ["new rules", "first", "answer", "second"]
    assert [m.content for m in t.conversation] == ["first", "answer", "second"]


def test_items_function_call_round_trip() -> None:
    items = [
        {"role": "user", "content": "weather in Paris and the time?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "noon"}],
        },
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Sunny at noon.", "annotations": []}],
        },
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]},
    ]
    chat = translate(request(input=items)).chat
    assert roles(chat.messages) == ["user", "assistant", "tool", "tool", "assistant", "user"]
    calls = chat.messages[1].tool_calls
    assert calls is not None and [(c.id, c.function.name) for c in calls] == [
        ("c1", "weather"),
        ("c2", "time"),
    ]
    assert (chat.messages[2].tool_call_id, chat.messages[2].content) == ("c1", "sunny")
    assert chat.messages[3].content == "noon"
    assert chat.messages[4].content == [{"type": "text", "text": "Sunny at noon."}]


def test_input_image_becomes_a_chat_image_part() -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    items = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": url, "detail": "auto"},
            ],
        }
    ]
    content = translate(request(input=items)).chat.messages[0].content
    assert content == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "auto"}},
    ]


def test_tools_tool_choice_and_format() -> None:
    tool = {
        "type": "function",
        "name": "weather",
        "description": "the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    }
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    chat = translate(
        request(
            tools=[tool],
            tool_choice={"type": "function", "name": "weather"},
            text={"format": {"type": "json_schema", "name": "A", "schema": schema, "strict": True}},
            max_output_tokens=50,
            temperature=0.4,
            top_p=0.9,
            parallel_tool_calls=False,
            user="u1",
            reasoning={"effort": "low"},
            service_tier="auto",
        )
    ).chat
    assert chat.tools is not None and chat.tools[0].function is not None
    assert chat.tools[0].function.name == "weather" and chat.tools[0].function.strict is True
    assert chat.tool_choice == {"type": "function", "function": {"name": "weather"}}
    assert chat.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": schema, "strict": True},
    }
    assert chat.max_completion_tokens == 50
    assert (chat.temperature, chat.top_p, chat.parallel_tool_calls) == (0.4, 0.9, False)
    assert (chat.user, chat.reasoning_effort, chat.service_tier) == ("u1", "low", "auto")
    json_object = translate(request(text={"format": {"type": "json_object"}})).chat
    assert json_object.response_format == {"type": "json_object"}
    assert translate(request(text={"format": {"type": "text"}})).chat.response_format is None
    assert translate(request(tool_choice="required")).chat.tool_choice == "required"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice.type"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "computer_call_output"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
    ],
)
def test_unsupported_is_a_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameterError) as raised:
        translate(request(**fields))
    assert raised.value.param == param and f"'{param}'" in raised.value.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": []}, "input"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0]"),
        ({"input": [{"type": "function_call_output", "call_id": 3, "output": "x"}]}, "input[0]"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
        ({"tools": [{"type": "function", "name": 3}]}, "tools[0].name"),
    ],
)
def test_malformed_is_a_400_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        translate(request(**fields))
    assert (raised.value.param or "").startswith(param)


def test_errors_of_the_chat_pipeline_are_renamed() -> None:
    items = [
        {"role": "user", "content": "a"},
        {"type": "reasoning", "id": "rs", "summary": []},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "b"},
                {"type": "input_image", "image_url": "https://example.invalid/cat.png"},
            ],
        },
    ]
    rename = translate(request(input=items, instructions="sys")).rename
    assert rename("messages[0]") == "instructions"
    assert rename("messages[2].content[1]") == "input[2].content[1]"
    assert rename("messages") == "input"
    assert rename("max_completion_tokens") == "max_output_tokens"
    assert rename("response_format.json_schema.schema") == "text.format.schema"
    assert rename("tools[1].function.parameters") == "tools[1].parameters"
    assert rename("temperature") is None


def test_ignored_fields_are_named() -> None:
    t = translate(
        request(
            truncation="auto",
            include=["reasoning.encrypted_content"],
            prompt_cache_key="k",
            reasoning={"summary": "auto"},
        )
    )
    assert t.ignored == ("truncation", "include", "prompt_cache_key", "reasoning.summary")
    assert translate(request(truncation="disabled", include=[])).ignored == ()


def test_spark_options_pass_through() -> None:
    chat = translate(request(spark={"top_k": 3})).chat
    assert chat.spark == {"top_k": 3}
