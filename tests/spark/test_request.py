"""OpenAI request → Spark request frame: every rule of request.py's module docstring."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from asgi_spark.adapters.spark.frames import encode_request
from asgi_spark.adapters.spark.params import ignored_params
from asgi_spark.adapters.spark.request import SparkRequest, Target, build_request
from asgi_spark.adapters.spark.versions import SparkVersion, custom_version, find_version
from asgi_spark.errors import GatewayError, InvalidRequestError, UnsupportedParameterError
from asgi_spark.openai_types import request_decoder


def version(name: str) -> SparkVersion:
    row = find_version(name)
    assert row is not None
    return row


MAX = version("v3.5")
LITE = version("v1.1")
X1 = version("x1")
PRO_128K = version("pro-128k")


def target(v: SparkVersion = MAX, **kw: Any) -> Target:
    return Target(app_id="app-1", version=v, domain=v.domain, **kw)


def user(text: Any = "你好") -> dict[str, Any]:
    return {"role": "user", "content": text}


def request(messages: list[dict[str, Any]] | None = None, **fields: Any) -> Any:
    body = {"model": "spark-max", "messages": [user()] if messages is None else messages, **fields}
    return request_decoder.decode(json.dumps(body))


def build(
    messages: list[dict[str, Any]] | None = None,
    *,
    v: SparkVersion = MAX,
    t: Target | None = None,
    **fields: Any,
) -> SparkRequest:
    return build_request(request(messages, **fields), t or target(v))


def wire(
    messages: list[dict[str, Any]] | None = None,
    *,
    v: SparkVersion = MAX,
    t: Target | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The encoded frame as JSON, exactly what goes to Spark."""
    result: dict[str, Any] = json.loads(encode_request(build(messages, v=v, t=t, **fields).frame))
    return result


def texts(messages: list[dict[str, Any]], v: SparkVersion = MAX) -> list[tuple[str, str]]:
    frame = wire(messages, v=v)
    return [(m["role"], m["content"]) for m in frame["payload"]["message"]["text"]]


def refused(
    cls: type[GatewayError],
    param: str | None,
    messages: list[dict[str, Any]] | None = None,
    *,
    v: SparkVersion = MAX,
    t: Target | None = None,
    **fields: Any,
) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        build(messages, v=v, t=t, **fields)
    error = info.value
    assert type(error) is cls, error
    assert error.status == 400
    assert error.type == "invalid_request_error"
    assert error.param == param
    assert error.message
    return error


# ----------------------------------------------------------------------- the whole frame


def test_minimal_request() -> None:
    frame = wire()
    assert frame == {
        "header": {"app_id": "app-1"},
        "parameter": {"chat": {"domain": "generalv3.5", "max_tokens": 4096}},
        "payload": {"message": {"text": [{"role": "user", "content": "你好"}]}},
    }


def test_target_defaults_go_into_the_frame() -> None:
    frame = wire(t=target(temperature=0.3, max_tokens=1000, top_k=2))
    assert frame["parameter"]["chat"] == {
        "domain": "generalv3.5",
        "temperature": 0.3,
        "max_tokens": 1000,
        "top_k": 2,
    }


def test_domain_comes_from_the_target() -> None:
    t = Target(app_id="a", version=LITE, domain="general")
    assert wire(t=t)["parameter"]["chat"]["domain"] == "general"


def test_ignored_parameters_are_accepted() -> None:
    frame = wire(
        seed=1,
        store=False,
        metadata={"a": "b"},
        service_tier="auto",
        parallel_tool_calls=True,
        reasoning_effort="low",
        stream=True,
        stream_options={"include_usage": True},
        unknown_future_field=[1],
    )
    assert frame == wire()


# ------------------------------------------------------------------------------ messages


def test_one_leading_system_is_kept() -> None:
    assert texts([{"role": "system", "content": "你是助手"}, user("hi")]) == [
        ("system", "你是助手"),
        ("user", "hi"),
    ]


def test_developer_is_system() -> None:
    assert texts([{"role": "developer", "content": "rules"}, user("hi")]) == [
        ("system", "rules"),
        ("user", "hi"),
    ]


def test_later_systems_become_user_turns() -> None:
    messages = [
        {"role": "system", "content": "s1"},
        user("u1"),
        {"role": "assistant", "content": "a1"},
        {"role": "system", "content": "s2"},
        user("u2"),
    ]
    assert texts(messages) == [
        ("system", "s1"),
        ("user", "u1"),
        ("assistant", "a1"),
        ("user", "s2\nu2"),
    ]


def test_a_system_that_is_not_first_is_a_user_turn() -> None:
    messages = [
        user("u1"),
        {"role": "assistant", "content": "a1"},
        {"role": "developer", "content": "d"},
        user("u2"),
    ]
    assert texts(messages) == [("user", "u1"), ("assistant", "a1"), ("user", "d\nu2")]


def test_lite_folds_the_system_into_the_first_user_turn() -> None:
    messages = [
        {"role": "system", "content": "你是助手"},
        user("u1"),
        {"role": "assistant", "content": "a1"},
        user("u2"),
    ]
    assert texts(messages, v=LITE) == [
        ("user", "你是助手\n\nu1"),
        ("assistant", "a1"),
        ("user", "u2"),
    ]
    assert all(role != "system" for role, _ in texts(messages, v=LITE))


def test_lite_folds_the_system_past_a_leading_assistant() -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": "a0"},
        user("u1"),
    ]
    assert texts(messages, v=LITE) == [("assistant", "a0"), ("user", "s\n\nu1")]


def test_consecutive_same_role_turns_are_merged() -> None:
    messages = [
        user("a"),
        user("b"),
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"},
        user("e"),
    ]
    assert texts(messages) == [("user", "a\nb"), ("assistant", "c\nd"), ("user", "e")]


def test_empty_and_whitespace_turns_are_dropped() -> None:
    messages = [
        {"role": "system", "content": "  "},
        user("a"),
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": None},
        user(" \n\t"),
        user("b"),
    ]
    # dropping the empty assistant turns makes the two user turns adjacent: merged
    assert texts(messages) == [("user", "a\nb")]


def test_content_parts_are_flattened() -> None:
    parts = [{"type": "text", "text": "第一段"}, {"type": "text", "text": "第二段"}]
    assert texts([user(parts)]) == [("user", "第一段\n第二段")]
    refusal = [{"type": "refusal", "refusal": "no"}]
    assert texts([user("q"), {"role": "assistant", "content": refusal}, user("r")]) == [
        ("user", "q"),
        ("assistant", "no"),
        ("user", "r"),
    ]


def test_empty_part_list_is_an_empty_turn() -> None:
    assert texts([user([]), user("x")]) == [("user", "x")]


@pytest.mark.parametrize("kind", ["image_url"])
def test_image_parts_are_refused(kind: str) -> None:
    parts = [{"type": "text", "text": "what is this"}, {"type": kind, kind: {"url": "x"}}]
    error = refused(
        UnsupportedParameterError,
        "messages[1].content[1]",
        [{"role": "system", "content": "s"}, user(parts)],
    )
    assert error.code == "unsupported_parameter"
    assert "image" in error.message


@pytest.mark.parametrize("kind", ["input_audio", "file", "input_image", None, 3])
def test_unknown_part_types_are_refused(kind: Any) -> None:
    refused(UnsupportedParameterError, "messages[0].content[0].type", [user([{"type": kind}])])


def test_text_part_without_text_is_refused() -> None:
    refused(
        InvalidRequestError,
        "messages[0].content[1]",
        [user([{"type": "text", "text": "ok"}, {"type": "text"}])],
    )
    refused(InvalidRequestError, "messages[0].content[0]", [user([{"type": "text", "text": 5}])])


@pytest.mark.parametrize("role", ["robot", "", "USER", "model"])
def test_unknown_role_is_refused(role: str) -> None:
    error = refused(
        InvalidRequestError, "messages[1].role", [user("a"), {"role": role, "content": "x"}]
    )
    assert repr(role) in error.message


def test_empty_messages_are_refused() -> None:
    refused(InvalidRequestError, "messages", [])


@pytest.mark.parametrize(
    "messages",
    [
        [user("q"), {"role": "assistant", "content": "a"}],
        [{"role": "system", "content": "s"}],
        [user("  ")],
        [user("q"), {"role": "assistant", "content": "a"}, user("")],
    ],
)
def test_conversation_must_end_with_a_user_turn(messages: list[dict[str, Any]]) -> None:
    refused(InvalidRequestError, "messages", messages)


# -------------------------------------------------------------------------------- tools


def tool_round_trip(result_msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        user("合肥今天天气？"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"合肥"}'},
                }
            ],
        },
        result_msg,
    ]


def test_tool_result_becomes_a_user_turn_naming_the_tool() -> None:
    turns = texts(
        tool_round_trip({"role": "tool", "tool_call_id": "call_1", "content": "晴，25度"})
    )
    assert turns[0] == ("user", "合肥今天天气？")
    role, text = turns[1]
    assert role == "assistant"
    assert "get_weather" in text and '{"location":"合肥"}' in text
    role, text = turns[2]
    assert role == "user"
    assert "get_weather" in text and text.endswith("晴，25度")


def test_tool_result_with_unknown_call_id_still_becomes_text() -> None:
    turns = texts(tool_round_trip({"role": "tool", "tool_call_id": "call_other", "content": "晴"}))
    role, text = turns[2]
    assert role == "user" and text.endswith("晴") and "get_weather" not in text


def test_function_result_uses_its_name() -> None:
    messages = [
        user("q"),
        {
            "role": "assistant",
            "content": "",
            "function_call": {"name": "lookup", "arguments": "{}"},
        },
        {"role": "function", "name": "lookup", "content": "42"},
    ]
    turns = texts(messages)
    assert turns[1][0] == "assistant" and "lookup" in turns[1][1] and "{}" in turns[1][1]
    assert turns[2][0] == "user" and "lookup" in turns[2][1] and turns[2][1].endswith("42")


def test_assistant_text_and_tool_calls_are_both_kept() -> None:
    messages = [
        user("q"),
        {
            "role": "assistant",
            "content": "let me check",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f1", "arguments": "1"}},
                {"id": "b", "type": "function", "function": {"name": "f2", "arguments": "2"}},
            ],
        },
        {"role": "tool", "tool_call_id": "b", "content": "r2"},
        {"role": "tool", "tool_call_id": "a", "content": "r1"},
    ]
    turns = texts(messages)
    assert [role for role, _ in turns] == ["user", "assistant", "user"]
    assistant = turns[1][1].split("\n")
    assert assistant[0] == "let me check"
    assert "f1" in assistant[1] and "f2" in assistant[2]
    results = turns[2][1]
    # two tool results merged into one user turn, each naming its own tool
    assert results.index("f2") < results.index("r2") < results.index("f1") < results.index("r1")


def test_empty_tool_result_is_dropped() -> None:
    refused(
        InvalidRequestError,
        "messages",
        tool_round_trip({"role": "tool", "tool_call_id": "call_1", "content": ""}),
    )


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "天气查询",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_tools_become_functions() -> None:
    frame = wire(
        tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}], tool_choice="auto"
    )
    assert frame["payload"]["functions"] == {
        "text": [
            {
                "name": "get_weather",
                "description": "天气查询",
                "parameters": WEATHER_TOOL["function"]["parameters"],
            },
            {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}},
        ]
    }


def test_default_parameters_are_not_shared() -> None:
    first = build(tools=[{"type": "function", "function": {"name": "a"}}])
    functions = first.frame.payload.functions
    assert functions is not None
    functions.text[0].parameters["mutated"] = True
    second = wire(tools=[{"type": "function", "function": {"name": "a"}}])
    assert second["payload"]["functions"]["text"][0]["parameters"] == {
        "type": "object",
        "properties": {},
    }


def test_legacy_functions_become_functions() -> None:
    frame = wire(functions=[{"name": "f", "description": "d"}], function_call="auto")
    assert frame["payload"]["functions"]["text"] == [
        {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}
    ]


@pytest.mark.parametrize("tools", [None, []])
def test_no_tools_no_functions_key(tools: Any) -> None:
    frame = wire(tools=tools)
    assert "functions" not in frame["payload"]


def test_tool_choice_none_drops_the_tools() -> None:
    assert "functions" not in wire(tools=[WEATHER_TOOL], tool_choice="none")["payload"]
    assert "functions" not in wire(functions=[{"name": "f"}], function_call="none")["payload"]


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_forced_tool_choice_is_refused(choice: Any) -> None:
    refused(UnsupportedParameterError, "tool_choice", tools=[WEATHER_TOOL], tool_choice=choice)


def test_forced_function_call_is_refused() -> None:
    refused(
        UnsupportedParameterError,
        "function_call",
        functions=[{"name": "f"}],
        function_call={"name": "f"},
    )


@pytest.mark.parametrize("tool", [{"type": "web_search"}, {"type": "custom", "custom": {}}])
def test_non_function_tools_are_refused(tool: dict[str, Any]) -> None:
    refused(UnsupportedParameterError, "tools[1].type", tools=[WEATHER_TOOL, tool])


def test_function_tool_without_function_is_a_clear_400() -> None:
    error = refused(
        InvalidRequestError, "tools[1].function", tools=[WEATHER_TOOL, {"type": "function"}]
    )
    assert "required" in error.message


def test_system_only_conversation_is_refused_on_every_model() -> None:
    for version in (MAX, LITE):
        refused(InvalidRequestError, "messages", [{"role": "system", "content": "hi"}], v=version)


def test_tools_on_lite_are_refused() -> None:
    error = refused(UnsupportedParameterError, "tools", v=LITE, tools=[WEATHER_TOOL])
    assert LITE.product in error.message
    refused(UnsupportedParameterError, "functions", v=LITE, functions=[{"name": "f"}])
    refused(UnsupportedParameterError, "tools", v=version("v2.1"), tools=[WEATHER_TOOL])


def test_tools_with_choice_none_are_fine_on_lite() -> None:
    assert "functions" not in wire(v=LITE, tools=[WEATHER_TOOL], tool_choice="none")["payload"]


# ---------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("openai", "spark"),
    [
        (0, 0.01),
        (0.0, 0.01),
        (0.01, 0.01),
        (0.02, 0.01),
        (0.5, 0.25),
        (1, 0.5),
        (1.5, 0.75),
        (2, 1.0),
        (0.3333, 0.1666),
    ],
)
def test_temperature_is_halved_into_spark_range(openai: float, spark: float) -> None:
    value = wire(temperature=openai)["parameter"]["chat"]["temperature"]
    assert value == pytest.approx(spark, abs=1e-4)
    assert 0 < value <= 1


def test_request_temperature_overrides_the_target_default() -> None:
    frame = wire(t=target(temperature=0.9), temperature=1)
    assert frame["parameter"]["chat"]["temperature"] == 0.5


@pytest.mark.parametrize("value", [2.01, 3, -0.1, -1])
def test_temperature_out_of_range_is_refused(value: float) -> None:
    refused(InvalidRequestError, "temperature", temperature=value)


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -1])
def test_max_tokens_below_one_is_refused(param: str, value: int) -> None:
    refused(InvalidRequestError, param, **{param: value})


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_is_passed_and_clamped(param: str) -> None:
    assert build(**{param: 1}).max_tokens == 1
    assert build(**{param: 100}).frame.parameter.chat.max_tokens == 100
    assert build(**{param: 8192}).max_tokens == 8192
    clamped = build(**{param: 100_000})
    assert clamped.max_tokens == clamped.frame.parameter.chat.max_tokens == 8192
    assert build(v=LITE, **{param: 8192}).max_tokens == 4096
    assert build(v=PRO_128K, **{param: 5000}).max_tokens == 4096
    assert build(v=X1, **{param: 30000}).max_tokens == 30000


def test_max_tokens_default_comes_from_target_then_version() -> None:
    assert build(t=target(max_tokens=1234)).max_tokens == 1234
    assert build(t=target()).max_tokens == MAX.default_max_tokens == 4096
    assert build(t=target(X1)).max_tokens == X1.default_max_tokens
    # a target default above the version's range is clamped too
    assert build(t=target(LITE, max_tokens=8000)).max_tokens == 4096
    # the request wins over the target
    assert build(t=target(max_tokens=1234), max_tokens=99).max_tokens == 99


def test_max_tokens_and_max_completion_tokens() -> None:
    assert build(max_tokens=50, max_completion_tokens=50).max_tokens == 50
    refused(InvalidRequestError, "max_tokens", max_tokens=50, max_completion_tokens=60)


def test_user_becomes_uid() -> None:
    assert wire(user="alice")["header"] == {"app_id": "app-1", "uid": "alice"}
    assert "uid" not in wire(user="")["header"]
    exactly_32 = "u" * 32
    assert wire(user=exactly_32)["header"]["uid"] == exactly_32


def test_long_user_becomes_a_stable_32_char_hash() -> None:
    long_user = "user-" + "x" * 60
    uid = wire(user=long_user)["header"]["uid"]
    assert len(uid) == 32
    assert uid != long_user[:32]
    assert wire(user=long_user)["header"]["uid"] == uid
    other = wire(user=long_user + "y")["header"]["uid"]
    assert len(other) == 32 and other != uid
    assert len(wire(user="用户" * 20)["header"]["uid"]) == 32


def test_n_is_never_top_k() -> None:
    frame = wire(n=1)
    assert "top_k" not in frame["parameter"]["chat"]
    assert wire(n=1, t=target(top_k=3))["parameter"]["chat"]["top_k"] == 3
    refused(UnsupportedParameterError, "n", n=2)
    refused(UnsupportedParameterError, "n", n=0)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("logprobs", True),
        ("top_logprobs", 3),
        ("stop", "\n"),
        ("stop", ["END"]),
        ("response_format", {"type": "json_object"}),
        ("response_format", {"type": "json_schema", "json_schema": {"name": "x"}}),
        ("modalities", ["text", "audio"]),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("prediction", {"type": "content", "content": "x"}),
        ("web_search_options", {}),
    ],
)
def test_unsupported_parameters_are_refused(param: str, value: Any) -> None:
    error = refused(UnsupportedParameterError, param, **{param: value})
    assert error.code == "unsupported_parameter"
    assert f"'{param}'" in error.message


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("logprobs", False),
        ("top_logprobs", 0),
        ("stop", []),
        ("logit_bias", {}),
        ("response_format", {"type": "text"}),
        ("modalities", ["text"]),
    ],
)
def test_harmless_values_of_unsupported_parameters_pass(param: str, value: Any) -> None:
    assert wire(**{param: value}) == wire()


IGNORABLE_VALUES = [
    ("top_p", 0.5),
    ("presence_penalty", 0.5),
    ("frequency_penalty", -1.0),
    ("logit_bias", {"50256": -100}),
    ("seed", 7),
    ("service_tier", "flex"),
    ("reasoning_effort", "low"),
    ("store", True),
    ("metadata", {"k": "v"}),
]


@pytest.mark.parametrize(("param", "value"), IGNORABLE_VALUES)
@pytest.mark.parametrize("name", ["v1.1", "v3.1", "v3.5", "v4.0"])
def test_hints_without_a_spark_equivalent_are_ignored_and_named(
    param: str, value: Any, name: str
) -> None:
    v = version(name)
    assert wire(v=v, **{param: value}) == wire(v=v)
    assert ignored_params(request(**{param: value}), v) == (param,)


@pytest.mark.parametrize(("param", "value"), IGNORABLE_VALUES)
def test_strict_params_refuses_the_ignorable_hints(param: str, value: Any) -> None:
    error = refused(UnsupportedParameterError, param, t=target(strict=True), **{param: value})
    assert f"'{param}'" in error.message
    assert ignored_params(request(), MAX) == ()


def test_neutral_sampling_knobs_pass_everywhere() -> None:
    assert wire(top_p=1, presence_penalty=0, frequency_penalty=0) == wire()


def test_sampling_knobs_are_not_ignored_on_x1() -> None:
    assert ignored_params(request(top_p=0.8, presence_penalty=0.5), X1) == ()


def test_sampling_knobs_pass_through_on_x1() -> None:
    chat = wire(v=X1, top_p=0.8, presence_penalty=0.5, frequency_penalty=-0.5)["parameter"]["chat"]
    assert chat["domain"] == "spark-x"
    assert (chat["top_p"], chat["presence_penalty"], chat["frequency_penalty"]) == (0.8, 0.5, -0.5)
    assert "top_p" not in wire(v=X1)["parameter"]["chat"]


def test_custom_version_allows_system_and_tools() -> None:
    custom = custom_version("/v1.1/chat", "svc")
    frame = wire([{"role": "system", "content": "s"}, user("u")], v=custom, tools=[WEATHER_TOOL])
    assert frame["parameter"]["chat"]["domain"] == "svc"
    assert frame["payload"]["message"]["text"][0]["role"] == "system"
    assert "functions" in frame["payload"]


def test_decoder_names_the_bad_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.messages\[0\]\.role"):
        request_decoder.decode(b'{"model": "m", "messages": [{"role": 1}]}')


# ------------------------------------------------------------------------------ image models

IMAGE = find_version("image")
PNG_B64 = "iVBORw0KGgo="


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def test_image_model_sends_data_url_images_as_image_turns() -> None:
    assert IMAGE is not None and IMAGE.images
    parts = [image_part(f"data:image/png;base64,{PNG_B64}"), {"type": "text", "text": "what?"}]
    frame = wire([{"role": "system", "content": "be brief"}, user(parts)], v=IMAGE)
    assert frame["payload"]["message"]["text"] == [
        {"role": "user", "content": PNG_B64, "content_type": "image"},
        {"role": "user", "content": "be brief\n\nwhat?"},
    ]


@pytest.mark.parametrize(
    ("url", "cls", "param"),
    [
        (
            "https://example.com/cat.png",
            UnsupportedParameterError,
            "messages[0].content[0].image_url.url",
        ),
        ("data:image/png;base64,***", InvalidRequestError, "messages[0].content[0].image_url.url"),
        (
            "data:text/plain;base64,aGk=",
            UnsupportedParameterError,
            "messages[0].content[0].image_url.url",
        ),
    ],
)
def test_image_model_refuses_what_it_cannot_send(
    url: str, cls: type[GatewayError], param: str
) -> None:
    assert IMAGE is not None
    refused(cls, param, [user([image_part(url), {"type": "text", "text": "?"}])], v=IMAGE)


def test_images_only_in_user_messages() -> None:
    assert IMAGE is not None
    parts = [image_part(f"data:image/png;base64,{PNG_B64}")]
    refused(
        InvalidRequestError,
        "messages[1].content",
        [user("hi"), {"role": "assistant", "content": parts}, user("and?")],
        v=IMAGE,
    )


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, {"type": "object", "properties": {}}),
        (
            {"properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        ({"type": "object"}, {"type": "object", "properties": {}}),
    ],
)
def test_function_parameters_become_the_object_schema_spark_reads(
    parameters: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Spec 2.5: parameters is {type: "object", properties: ...}; the strict simulator agrees."""
    from asgi_spark.simulator.validate import validate_request

    tool = {"type": "function", "function": {"name": "f", "parameters": parameters}}
    frame = wire([user("call f")], tools=[tool])
    assert frame["payload"]["functions"]["text"][0]["parameters"] == expected
    validate_request(frame, version=MAX, app_id=frame["header"]["app_id"])


def test_function_parameters_of_another_type_are_refused() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}
    error = refused(InvalidRequestError, "tools[0].parameters", [user()], tools=[tool])
    assert "must be a JSON Schema of type 'object', not 'array'" in error.message


def test_spark_options_go_into_the_frame_and_the_simulator_accepts_them() -> None:
    from asgi_spark.simulator.validate import validate_request

    frame = wire(
        spark={"top_k": 2, "chat_id": "conv-1", "web_search": {"search_mode": "deep"}},
        t=target(top_k=5),
    )
    chat = frame["parameter"]["chat"]
    assert (chat["top_k"], chat["chat_id"]) == (2, "conv-1")
    assert chat["tools"] == [
        {
            "type": "web_search",
            "web_search": {"enable": True, "show_ref_label": True, "search_mode": "deep"},
        }
    ]
    validate_request(frame, version=MAX, app_id=frame["header"]["app_id"])
    assert wire(spark={"web_search": True})["parameter"]["chat"]["tools"][0]["web_search"] == {
        "enable": True,
        "show_ref_label": True,
    }
    assert "tools" not in wire(spark={"web_search": False})["parameter"]["chat"]


@pytest.mark.parametrize(
    ("spark", "param", "needle"),
    [
        ([], "spark", "must be an object"),
        ({"topk": 1}, "spark.topk", "is not a Spark option"),
        ({"top_k": 7}, "spark.top_k", "from 1 to 6"),
        ({"top_k": True}, "spark.top_k", "from 1 to 6"),
        ({"chat_id": ""}, "spark.chat_id", "1 to 64"),
        ({"web_search": "yes"}, "spark.web_search", "true, false or an object"),
        ({"web_search": {"mode": "deep"}}, "spark.web_search.mode", "is not known"),
        ({"web_search": {"search_mode": "fast"}}, "spark.web_search.search_mode", "normal"),
        ({"web_search": {"enable": 1}}, "spark.web_search.enable", "true or false"),
    ],
)
def test_bad_spark_options_are_400s_naming_the_field(spark: Any, param: str, needle: str) -> None:
    error = refused(InvalidRequestError, param, spark=spark)
    assert needle in error.message


def test_web_search_only_on_the_versions_that_have_it() -> None:
    error = refused(
        InvalidRequestError, "spark.web_search", v=version("v1.1"), spark={"web_search": True}
    )
    assert "Spark Lite has no web search" in error.message
