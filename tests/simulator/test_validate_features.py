"""Per-version features (spec 2.3-2.5, 4) and what the simulator tolerates on purpose.

Version-dependent checks: web search ``tools`` (Pro, Max, Ultra), the X1-only parameters,
``system`` messages (not on Lite or the image model), image turns (image model only), and custom
endpoints that allow everything.  :func:`test_tolerated_frames` pins each deliberately lenient
point of :mod:`asgi_spark.simulator.strictness`, so that tightening one is a visible decision.
"""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect

from asgi_spark.simulator import SparkSimulator
from asgi_spark.simulator.server import MAX_FRAME_BYTES

from .helpers import assert_error, chat_frame, exchange, read_all, signed_url

SEARCH = {
    "type": "web_search",
    "web_search": {"enable": True, "show_ref_label": False, "search_mode": "deep"},
}


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# ------------------------------------------------------------------------- web search tools


@pytest.mark.parametrize(
    ("version", "domain"),
    [
        ("v3.1", "generalv3"),
        ("pro-128k", "pro-128k"),
        ("v3.5", "generalv3.5"),
        ("max-32k", "max-32k"),
        ("v4.0", "4.0Ultra"),
    ],
)
async def test_web_search_tool_is_accepted(sim: SparkSimulator, version: str, domain: str) -> None:
    tools = [SEARCH, {"type": "web_search", "web_search": {}}]
    result = await exchange(sim, chat_frame(domain=domain, tools=tools), version=version)
    assert result.last["header"]["code"] == 0


@pytest.mark.parametrize(
    ("version", "domain"),
    [("v1.1", "lite"), ("v2.1", "generalv2"), ("x1", "spark-x"), ("image", "image")],
)
async def test_tools_on_a_version_without_web_search_is_10004(
    sim: SparkSimulator, version: str, domain: str
) -> None:
    result = await exchange(sim, chat_frame(domain=domain, tools=[SEARCH]), version=version)
    detail = f"'$.parameter.chat.tools' is not supported by domain {domain};"
    assert_error(result, 10004, "SchemaCheckError", detail)


# ------------------------------------------------------------------------- X1-only fields


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("top_p", 0.5),
        ("presence_penalty", 0),
        ("frequency_penalty", 0.1),
        ("thinking", {"type": "disabled"}),
    ],
)
async def test_x1_fields_on_another_version_are_10004(
    sim: SparkSimulator, name: str, value: Any
) -> None:
    result = await exchange(sim, chat_frame(**{name: value}))
    detail = f"'$.parameter.chat.{name}' is not supported by domain generalv3.5;"
    assert_error(result, 10004, "SchemaCheckError", detail)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            {"top_p": 0.9, "presence_penalty": -1.5, "frequency_penalty": 2},
            None,
        ),
        ({"thinking": {"type": "enabled"}}, None),
        ({"top_p": 7, "presence_penalty": -100}, None),  # no range in the spec: type only
        ({"top_p": "0.9"}, "'$.parameter.chat.top_p' must be a number;"),
        ({"frequency_penalty": None}, "'$.parameter.chat.frequency_penalty' must be a number;"),
        ({"thinking": "on"}, "'$.parameter.chat.thinking' must be an object;"),
        ({"thinking": {}}, "'$.parameter.chat.thinking.type' is required;"),
        (
            {"thinking": {"type": "on"}},
            "'$.parameter.chat.thinking.type' must be one of [enabled, disabled, auto];",
        ),
    ],
    ids=[
        "penalties",
        "thinking",
        "out-of-any-range",
        "top_p-str",
        "null",
        "thinking-str",
        "thinking-no-type",
        "thinking-type",
    ],
)
async def test_x1_fields_on_x1(
    sim: SparkSimulator, fields: dict[str, Any], detail: str | None
) -> None:
    result = await exchange(sim, chat_frame(domain="spark-x", **fields), version="x1")
    if detail is None:
        assert result.last["header"]["code"] == 0
    else:
        assert_error(result, 10004, "SchemaCheckError", detail)


# -------------------------------------------------------------------------------- system


@pytest.mark.parametrize(("version", "domain"), [("v1.1", "lite"), ("image", "image")])
async def test_system_on_a_version_without_it_is_10004(
    sim: SparkSimulator, version: str, domain: str
) -> None:
    messages = [{"role": "system", "content": "be brief"}, _user("hi")]
    result = await exchange(sim, chat_frame(domain=domain, messages=messages), version=version)
    detail = f"'$.payload.message.text[0].role' system is not supported by domain {domain};"
    assert_error(result, 10004, "SchemaCheckError", detail)


# ---------------------------------------------------------------------------- image model

IMAGE_TURN = {"role": "user", "content": "iVBORw0KGgo=", "content_type": "image"}


async def test_image_path_answers_image_turns(sim: SparkSimulator) -> None:
    frame = chat_frame(domain="image", messages=[IMAGE_TURN, _user("what is it?")])
    result = await exchange(sim, frame, version="image")
    assert result.last["header"]["code"] == 0
    usage = result.last["payload"]["usage"]["text"]
    assert usage["prompt_tokens"] > usage["question_tokens"]  # the image counts too
    answer = "".join(f["payload"]["choices"]["text"][0]["content"] for f in result.frames)
    assert "what is it?" in answer


async def test_image_turn_on_a_text_path_is_10004(sim: SparkSimulator) -> None:
    result = await exchange(sim, chat_frame(messages=[IMAGE_TURN, _user("what is it?")]))
    assert_error(
        result,
        10004,
        "SchemaCheckError",
        "'$.payload.message.text[0].content_type' image is not supported by this domain;",
    )


async def test_image_that_is_not_base64_is_10161(sim: SparkSimulator) -> None:
    bad = {**IMAGE_TURN, "content": "not base64!"}
    frame = chat_frame(domain="image", messages=[bad, _user("what is it?")])
    result = await exchange(sim, frame, version="image")
    assert_error(
        result,
        10161,
        "Base64DecodeError",
        "'$.payload.message.text[0].content' base64 decode failed",
    )


# ------------------------------------------------------------------------ custom endpoints


async def test_custom_endpoint_allows_every_feature(sim: SparkSimulator) -> None:
    frame = chat_frame(
        domain="mydomain",
        messages=[{"role": "system", "content": "be brief"}, _user("hi")],
        functions=[{"name": "lookup"}],
        tools=[SEARCH],
        top_p=0.5,
        thinking={"type": "auto"},
        max_tokens=32768,
    )
    result = await exchange(sim, frame, version="mydomain")
    assert result.last["header"]["code"] == 0


# ------------------------------------------------------------------- lenient on purpose

TOLERATED: list[tuple[str, dict[str, Any]]] = [
    ("patch-id", {**chat_frame(), "header": {"app_id": "sim-app", "patch_id": ["ft-1"]}}),
    (
        "same-role",
        chat_frame(messages=[_user("a"), _user("b"), _assistant("c"), _assistant("d"), _user("e")]),
    ),
    ("ends-with-assistant", chat_frame(messages=[_user("a"), _assistant("b")])),
    ("blank-content", chat_frame(messages=[_user("hi"), _assistant(" \n "), _user("again")])),
    ("function-name-only", chat_frame(functions=[{"name": "lookup"}])),
]


@pytest.mark.parametrize(
    "frame", [case[1] for case in TOLERATED], ids=[case[0] for case in TOLERATED]
)
async def test_tolerated_frames(sim: SparkSimulator, frame: dict[str, Any]) -> None:
    result = await exchange(sim, frame)
    assert result.last["header"]["code"] == 0
    assert result.last["header"]["status"] == 2


async def test_frame_over_the_size_limit_is_closed_1009(sim: SparkSimulator) -> None:
    # Not ``async with``: the server has closed the connection by the time read_all returns.
    ws = await connect(signed_url(sim))
    await ws.send("x" * (MAX_FRAME_BYTES + 1))
    result = await read_all(ws)
    assert result.raw == []
    assert result.close_frame_received
    assert result.close_code == 1009
