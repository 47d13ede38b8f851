"""Request frame checks (spec 2, 5.2): every code, with Spark's exact message format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgi_spark.simulator import Faults, SparkSimulator

from .helpers import assert_error, chat_frame, exchange

User = dict[str, str]


def _user(text: str) -> User:
    return {"role": "user", "content": text}


def _without(frame: dict[str, Any], *path: str) -> dict[str, Any]:
    node = frame
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return frame


def _with(frame: dict[str, Any], *path: str, value: Any) -> dict[str, Any]:
    node = frame
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return frame


def _search(**fields: Any) -> dict[str, Any]:
    return {"type": "web_search", "web_search": fields}


def _function(**fields: Any) -> list[dict[str, Any]]:
    return [{"name": "f", **fields}]


async def test_not_json_is_10160(sim: SparkSimulator) -> None:
    result = await exchange(sim, "this is not json")
    assert result.frames[0]["header"]["code"] == 10160
    assert result.frames[0]["header"]["message"].startswith("JsonParseError:(")
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    assert sim.requests == []


async def test_binary_request_frame_is_refused_with_10001(sim: SparkSimulator) -> None:
    """Spark reads one JSON *text* frame (spec 2); a binary frame is refused before decoding."""
    result = await exchange(sim, json.dumps(chat_frame()).encode())
    assert_error(
        result,
        10001,
        "ClientMsgError",
        "binary frames are not accepted: send the request as one JSON text frame",
    )
    assert sim.requests == []


@pytest.mark.parametrize("data", [b"\xff\xfe not utf-8", b'{"header": "\xed\xa0\x80"}'])
async def test_accepted_binary_frame_that_is_not_utf8_json_is_10160(
    sim: SparkSimulator, data: bytes
) -> None:
    sim.faults = Faults(accept_binary=True)
    result = await exchange(sim, data)
    assert result.frames[0]["header"]["code"] == 10160
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")


async def test_deeply_nested_frame_is_10160(sim: SparkSimulator) -> None:
    result = await exchange(sim, "[" * 5000 + "]" * 5000)
    assert result.frames[0]["header"]["code"] == 10160
    assert "nested too deeply" in result.frames[0]["header"]["message"]


async def test_binary_json_frame_is_accepted_with_the_accept_binary_fault(
    sim: SparkSimulator,
) -> None:
    sim.faults = Faults(accept_binary=True)
    result = await exchange(sim, json.dumps(chat_frame()).encode())
    assert result.last["header"]["code"] == 0


@pytest.mark.parametrize(
    "frame",
    [chat_frame(app_id=""), _without(chat_frame(), "header", "app_id")],
    ids=["empty", "missing"],
)
async def test_empty_app_id_is_10313(sim: SparkSimulator, frame: dict[str, Any]) -> None:
    assert_error(await exchange(sim, frame), 10313, "InvalidAppIdError", "app_id cannot be empty")


async def test_other_app_id_is_10313(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame(app_id="someone-elses-app"))
    assert_error(result, 10313, "InvalidAppIdError", "app_id and api_key does not match")


@pytest.mark.parametrize(
    ("version", "domain"),
    [("v3.5", "generalv3"), ("v3.5", "GENERALV3.5"), ("v1.1", "generalv3.5"), ("x1", "x1")],
)
async def test_domain_of_another_path_is_10003(
    sim: SparkSimulator, version: str, domain: str
) -> None:
    result = await exchange(sim, chat_frame(domain=domain), version=version)
    assert_error(result, 10003, "ClientMsgError", "invalid model domain")


@pytest.mark.parametrize(
    ("version", "domain"), [("v1.1", "lite"), ("v1.1", "general"), ("pro-128k", "pro-128k")]
)
async def test_accepted_domains(sim: SparkSimulator, version: str, domain: str) -> None:
    result = await exchange(sim, chat_frame(domain=domain), version=version)
    assert result.last["header"]["code"] == 0


SCHEMA_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("uid-33", chat_frame(uid="u" * 33), "'$.header.uid' length must be less or equal than 32;"),
    ("uid-int", chat_frame(uid=7), "'$.header.uid' must be a string;"),  # type: ignore[arg-type]
    (
        "temperature-0",
        chat_frame(temperature=0),
        "'$.parameter.chat.temperature' must be greater than 0;",
    ),
    (
        "temperature-1.5",
        chat_frame(temperature=1.5),
        "'$.parameter.chat.temperature' must be less or equal than 1;",
    ),
    (
        "temperature-str",
        chat_frame(temperature="0.5"),
        "'$.parameter.chat.temperature' must be a number;",
    ),
    (
        "max_tokens-0",
        chat_frame(max_tokens=0),
        "'$.parameter.chat.max_tokens' must be greater or equal than 1;",
    ),
    (
        "max_tokens-8193",
        chat_frame(max_tokens=8193),
        "'$.parameter.chat.max_tokens' must be less or equal than 8192;",
    ),
    (
        "max_tokens-float",
        chat_frame(max_tokens=10.5),
        "'$.parameter.chat.max_tokens' must be an integer;",
    ),
    (
        "max_tokens-bool",
        chat_frame(max_tokens=True),
        "'$.parameter.chat.max_tokens' must be an integer;",
    ),
    ("top_k-0", chat_frame(top_k=0), "'$.parameter.chat.top_k' must be greater or equal than 1;"),
    ("top_k-7", chat_frame(top_k=7), "'$.parameter.chat.top_k' must be less or equal than 6;"),
    (
        "role-tool",
        chat_frame(messages=[_user("hi"), {"role": "tool", "content": "x"}]),
        "'$.payload.message.text[1].role' must be one of [system, user, assistant];",
    ),
    (
        "content-empty",
        chat_frame(messages=[_user("hi"), {"role": "assistant", "content": ""}, _user("again")]),
        "'$.payload.message.text[1].content' length must be greater or equal than 1;",
    ),
    (
        "system-second",
        chat_frame(messages=[_user("hi"), {"role": "system", "content": "be brief"}]),
        "'$.payload.message.text[1].role' system message must be the first one;",
    ),
    ("no-header", _without(chat_frame(), "header"), "'$.header' is required;"),
    ("no-parameter", _without(chat_frame(), "parameter"), "'$.parameter' is required;"),
    (
        "no-domain",
        _without(chat_frame(), "parameter", "chat", "domain"),
        "'$.parameter.chat.domain' is required;",
    ),
    ("no-payload", _without(chat_frame(), "payload"), "'$.payload' is required;"),
    (
        "no-text",
        _without(chat_frame(), "payload", "message", "text"),
        "'$.payload.message.text' is required;",
    ),
    (
        "text-empty",
        chat_frame(messages=[]) | {"payload": {"message": {"text": []}}},
        "'$.payload.message.text' must have at least 1 item;",
    ),
    (
        "no-content",
        chat_frame(messages=[{"role": "user"}]),
        "'$.payload.message.text[0].content' is required;",
    ),
    (
        "text-not-array",
        chat_frame() | {"payload": {"message": {"text": "hi"}}},
        "'$.payload.message.text' must be an array;",
    ),
    (
        "functions-empty",
        chat_frame(functions=[]),
        "'$.payload.functions.text' must have at least 1 item;",
    ),
    (
        "function-no-name",
        chat_frame(functions=[{"description": "x"}]),
        "'$.payload.functions.text[0].name' is required;",
    ),
    (
        "item-not-object",
        chat_frame(messages=["hi"]),  # type: ignore[list-item]
        "'$.payload.message.text[0]' must be an object;",
    ),
    (
        "temperature-null",
        chat_frame(temperature=None),
        "'$.parameter.chat.temperature' must be a number;",
    ),
    (
        "uid-null",
        _with(chat_frame(), "header", "uid", value=None),
        "'$.header.uid' must be a string;",
    ),
    (
        "content-int",
        chat_frame(messages=[{"role": "user", "content": 1}]),  # type: ignore[dict-item]
        "'$.payload.message.text[0].content' must be a string;",
    ),
    ("app_id-int", chat_frame(app_id=7), "'$.header.app_id' must be a string;"),  # type: ignore[arg-type]
    (
        "patch_id-str",
        _with(chat_frame(), "header", "patch_id", value="ft-1"),
        "'$.header.patch_id' must be an array;",
    ),
    (
        "patch_id-item",
        _with(chat_frame(), "header", "patch_id", value=[1]),
        "'$.header.patch_id[0]' must be a string;",
    ),
    ("chat_id-int", chat_frame(chat_id=1), "'$.parameter.chat.chat_id' must be a string;"),
    (
        "tools-not-array",
        chat_frame(tools=_search(enable=True)),
        "'$.parameter.chat.tools' must be an array;",
    ),
    (
        "tools-function",
        chat_frame(tools=[{"type": "function", "function": {"name": "f"}}]),
        "'$.parameter.chat.tools[0].type' must be one of [web_search];",
    ),
    (
        "tools-no-web_search",
        chat_frame(tools=[{"type": "web_search"}]),
        "'$.parameter.chat.tools[0].web_search' is required;",
    ),
    (
        "tools-enable-str",
        chat_frame(tools=[_search(enable="true")]),
        "'$.parameter.chat.tools[0].web_search.enable' must be a boolean;",
    ),
    (
        "tools-show_ref_label-int",
        chat_frame(tools=[_search(enable=True), _search(show_ref_label=1)]),
        "'$.parameter.chat.tools[1].web_search.show_ref_label' must be a boolean;",
    ),
    (
        "tools-search_mode",
        chat_frame(tools=[_search(search_mode="fast")]),
        "'$.parameter.chat.tools[0].web_search.search_mode' must be one of [normal, deep];",
    ),
    (
        "content_type-video",
        chat_frame(messages=[{"role": "user", "content": "x", "content_type": "video"}]),
        "'$.payload.message.text[0].content_type' must be one of [text, image];",
    ),
    (
        "functions-empty-object",
        _with(chat_frame(), "payload", "functions", value={}),
        "'$.payload.functions.text' is required;",
    ),
    (
        "functions-null",
        _with(chat_frame(), "payload", "functions", value=None),
        "'$.payload.functions' must be an object;",
    ),
    (
        "function-description-int",
        chat_frame(functions=_function(description=1)),
        "'$.payload.functions.text[0].description' must be a string;",
    ),
    (
        "parameters-not-object",
        chat_frame(functions=_function(parameters=[])),
        "'$.payload.functions.text[0].parameters' must be an object;",
    ),
    (
        "parameters-no-type",
        chat_frame(functions=_function(parameters={"properties": {}})),
        "'$.payload.functions.text[0].parameters.type' is required;",
    ),
    (
        "parameters-array",
        chat_frame(functions=_function(parameters={"type": "array"})),
        "'$.payload.functions.text[0].parameters.type' must be one of [object];",
    ),
    (
        "parameters-properties-list",
        chat_frame(functions=_function(parameters={"type": "object", "properties": []})),
        "'$.payload.functions.text[0].parameters.properties' must be an object;",
    ),
    (
        "parameters-required-int",
        chat_frame(functions=_function(parameters={"type": "object", "required": [1]})),
        "'$.payload.functions.text[0].parameters.required[0]' must be a string;",
    ),
]


@pytest.mark.parametrize(
    ("frame", "detail"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES]
)
async def test_schema_errors_are_10004(
    sim: SparkSimulator, frame: dict[str, Any], detail: str
) -> None:
    assert_error(await exchange(sim, frame), 10004, "SchemaCheckError", detail)


async def test_not_an_object_is_10004(sim: SparkSimulator) -> None:
    assert_error(await exchange(sim, "[1, 2]"), 10004, "SchemaCheckError", "'$' must be an object;")


async def test_max_tokens_range_is_the_versions(sim: SparkSimulator) -> None:
    lite = await exchange(sim, chat_frame(domain="lite", max_tokens=4097), version="v1.1")
    detail = "'$.parameter.chat.max_tokens' must be less or equal than 4096;"
    assert_error(lite, 10004, "SchemaCheckError", detail)
    ok = await exchange(sim, chat_frame(max_tokens=8192, temperature=1, top_k=6, uid="u" * 32))
    assert ok.last["header"]["code"] == 0


async def test_functions_on_a_version_without_them_is_10004(sim: SparkSimulator) -> None:
    frame = chat_frame(domain="lite", functions=[{"name": "f", "parameters": {"type": "object"}}])
    result = await exchange(sim, frame, version="v1.1")
    assert_error(
        result, 10004, "SchemaCheckError", "'$.payload.functions' is not supported by domain lite;"
    )


async def test_prompt_over_the_context_is_10907(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame("字" * 8193))
    header = result.frames[0]["header"]
    assert header["code"] == 10907
    assert "token数量超过上限" in header["message"]
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
    fits = await exchange(sim, chat_frame("字" * 8192))
    assert fits.last["header"]["code"] == 0


async def test_prompt_tokens_count_every_message(sim: SparkSimulator) -> None:
    history = [_user("字" * 5000), {"role": "assistant", "content": "好"}, _user("字" * 3200)]
    result = await exchange(sim, chat_frame(messages=history))
    assert result.frames[0]["header"]["code"] == 10907


async def test_unknown_fields_are_ignored(sim: SparkSimulator) -> None:
    """Legacy fields are harmless (spec 2.3); so is anything the protocol does not know."""
    frame = chat_frame(
        auditing="default", random_threshold=0.5, tool_calls_switch=True, chat_id="c1"
    )
    frame["header"]["patch_id"] = ["p"]
    frame["header"]["status"] = 3
    frame["parameter"]["other"] = {"x": 1}
    frame["payload"]["message"]["text"][0]["name"] = "alice"
    frame["extra"] = {"anything": True}
    result = await exchange(sim, frame)
    assert result.last["header"]["code"] == 0
    assert sim.requests == [frame]
