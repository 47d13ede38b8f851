"""The structured-output plan and check, without sockets: what is asked upstream, what passes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_spark.errors import InvalidRequestError
from asgi_spark.events import ContentDelta, Event, Finish, Started, ToolCall, Usage
from asgi_spark.openai_types import request_decoder
from asgi_spark.policies.structured import check, plan

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def body(**fields: Any) -> Any:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return request_decoder.decode(json.dumps(base))


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {
                "tools": [TOOL],
                "tool_choice": "required",
                "response_format": {"type": "json_object"},
            },
            "response_format",
            "cannot be combined",
        ),
        ({"response_format": {"type": "xml"}}, "response_format.type", "not supported"),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema.schema",
            "needs",
        ),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tools", "needs tools"),
        ({"tools": [TOOL], "tool_choice": "any"}, "tool_choice", "must be 'auto', 'none'"),
        ({"tools": [TOOL], "tool_choice": {"type": "function"}}, "tool_choice", "name a function"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(
    fields: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as info:
        plan(body(**fields), functions=True)
    assert info.value.param == param


def test_required_without_tools_is_nothing_to_emulate() -> None:
    # ignored (the adapter names it in x-asgi-spark-ignored-params, or refuses it when strict)
    assert plan(body(tool_choice="required"), functions=True) is None


def test_nothing_to_emulate() -> None:
    assert plan(body(), functions=True) is None
    assert plan(body(tools=[TOOL], tool_choice="auto"), functions=True) is None
    assert plan(body(response_format={"type": "text"}), functions=False) is None


def test_the_legacy_function_call_forces_the_function() -> None:
    legacy = {"name": "f", "parameters": {"type": "object"}}
    chosen = plan(body(functions=[legacy], function_call={"name": "f"}), functions=True)
    assert chosen is not None and chosen.kind == "tool" and chosen.function == "f"
    assert chosen.body.function_call is None and chosen.body.tool_choice is None
    assert "f" in str(chosen.body.messages[-1].content)


def test_json_on_a_model_without_functions_is_an_instruction() -> None:
    chosen = plan(
        body(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
        ),
        functions=False,
    )
    assert chosen is not None and chosen.kind == "json_text"
    assert chosen.body.tools is None and chosen.body.response_format is None
    assert json.dumps(SCHEMA, separators=(",", ":")) in str(chosen.body.messages[-1].content)


ANSWERED: list[list[Event]] = [[Started("s")], [ContentDelta("hello"), Finish("stop")]]


def test_a_text_answer_to_a_forced_tool_choice_fails_the_check() -> None:
    chosen = plan(body(tools=[TOOL], tool_choice="required"), functions=True)
    assert chosen is not None
    assert check(chosen, ANSWERED) == "the model answered with text instead of calling a function"


def test_a_call_of_the_clients_own_tool_passes_through() -> None:
    other = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
    chosen = plan(body(tools=[other], response_format=fmt), functions=True)
    assert chosen is not None and [
        t.function.name for t in chosen.body.tools or [] if t.function
    ] == ["lookup", "x"]
    held: list[list[Event]] = [
        [Started("s"), ToolCall(0, "c", "lookup", "{}"), Finish("tool_calls")]
    ]
    assert check(chosen, held) == held


def test_a_valid_json_answer_becomes_the_content() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
    chosen = plan(body(response_format=fmt), functions=True)
    assert chosen is not None
    held: list[list[Event]] = [
        [Started("s"), ToolCall(0, "c", "x", '{"n": 2}'), Finish("tool_calls"), Usage(1, 0, 1)]
    ]
    assert check(chosen, held) == [
        [Started("s")],
        [ContentDelta('{"n": 2}'), Finish("stop"), Usage(1, 0, 1)],
    ]


def test_code_fences_around_instructed_json_are_removed() -> None:
    chosen = plan(body(response_format={"type": "json_object"}), functions=False)
    assert chosen is not None
    fenced: list[list[Event]] = [
        [Started("s"), ContentDelta('```json\n{"a": 1}\n```'), Finish("stop")]
    ]
    assert check(chosen, fenced)[-1][0] == ContentDelta('{"a": 1}')  # type: ignore[index]
    assert check(chosen, [[Started("s"), ContentDelta("[1]"), Finish("stop")]]) == (
        "the model's answer is JSON but not an object"
    )
