"""Spark wire types (spec sections 2 and 3): decoding every response shape, encoding requests."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_spark.adapters.spark import frames
from asgi_spark.adapters.spark.frames import (
    ChatParameter,
    FrameError,
    FunctionDef,
    Functions,
    Message,
    MessageText,
    Parameter,
    RequestFrame,
    RequestHeader,
    RequestPayload,
    decode_frame,
    encode_request,
)
from asgi_spark.errors import UpstreamProtocolError
from tests.spark import frames_strategies as fs

# ---------------------------------------------------------------------- response shapes


def test_content_frame() -> None:
    raw = (
        '{"header": {"code": 0, "message": "Success", "sid": "cht000b702a@dx18d6fb9d758b894540",'
        ' "status": 1}, "payload": {"choices": {"status": 1, "seq": 1,'
        ' "text": [{"content": "可以通过以下", "role": "assistant", "index": 0}]}}}'
    )
    frame = decode_frame(raw)
    assert frame.header.code == 0
    assert frame.header.message == "Success"
    assert frame.header.sid == "cht000b702a@dx18d6fb9d758b894540"
    assert frame.header.status == 1
    assert not frame.is_error
    assert frame.payload is not None and frame.payload.choices is not None
    choices = frame.payload.choices
    assert (choices.status, choices.seq) == (1, 1)
    assert len(choices.text) == 1
    item = choices.text[0]
    assert (item.content, item.role, item.index) == ("可以通过以下", "assistant", 0)
    assert item.function_call is None and item.reasoning_content is None
    assert frame.payload.usage is None and frame.payload.plugins is None


def test_bytes_and_str_decode_alike() -> None:
    raw = fs.content(0, "您", status=0)
    assert decode_frame(raw) == decode_frame(raw.decode("utf-8"))


def test_final_frame_with_usage() -> None:
    frame = decode_frame(fs.final(6, "这是最后一句。", usage_=fs.usage(37, 169, question=4)))
    assert frame.header.status == frames.STATUS_LAST
    assert frame.payload is not None and frame.payload.choices is not None
    assert frame.payload.choices.status == frames.STATUS_LAST
    assert frame.payload.choices.seq == 6
    assert frame.payload.choices.text[0].content == "这是最后一句。"
    assert frame.payload.usage is not None
    u = frame.payload.usage.text
    assert (u.question_tokens, u.prompt_tokens, u.completion_tokens, u.total_tokens) == (
        4,
        37,
        169,
        206,
    )


def test_function_call_frame() -> None:
    frame = decode_frame(fs.function_call(usage_=fs.usage(3, 0)))
    assert frame.payload is not None and frame.payload.choices is not None
    item = frame.payload.choices.text[0]
    assert item.content == ""
    assert item.content_type == "text"
    assert item.function_call is not None
    assert item.function_call.name == "天气查询"
    assert json.loads(item.function_call.arguments) == {"datetime": "今天", "location": "合肥"}
    assert frame.payload.usage is not None and frame.payload.usage.text.completion_tokens == 0


def test_function_call_without_arguments_defaults_to_empty() -> None:
    raw = fs.dumps(
        {
            "header": fs.header(status=2),
            "payload": {
                "choices": {"status": 2, "seq": 0, "text": [{"function_call": {"name": "f"}}]}
            },
        }
    )
    item = decode_frame(raw).payload.choices.text[0]  # type: ignore[union-attr]
    assert item.function_call == frames.FunctionCall(name="f", arguments="")


def test_x1_reasoning_frame() -> None:
    frame = decode_frame(fs.content(0, "", status=0, reasoning="用户问的是……"))
    assert frame.payload is not None and frame.payload.choices is not None
    item = frame.payload.choices.text[0]
    assert item.reasoning_content == "用户问的是……"
    assert item.content == ""


def test_plugins_frame_without_choices() -> None:
    frame = decode_frame(fs.plugins())
    assert frame.payload is not None
    assert frame.payload.choices is None
    assert frame.payload.plugins is not None
    assert frame.payload.plugins.text[0]["name"] == "ifly_search"
    assert frame.payload.plugins.text[0]["content_meta"] is None


def test_header_only_error_frame() -> None:
    raw = (
        '{"header": {"code": 10003, "message": "ClientMsgError:(23:02:32.721) invalid model '
        'domain", "sid": "cht000b0c24@dx1916602ea10b808550", "status": 2}}'
    )
    frame = decode_frame(raw)
    assert frame.is_error
    assert frame.header.code == 10003
    assert frame.header.message.endswith("invalid model domain")
    assert frame.header.sid == "cht000b0c24@dx1916602ea10b808550"
    assert frame.header.status == 2
    assert frame.payload is None


def test_minimal_header_gets_defaults() -> None:
    frame = decode_frame(b'{"header": {"code": 11200}}')
    assert frame.header == frames.ResponseHeader(code=11200, message="", sid="", status=1)


def test_unknown_fields_are_tolerated() -> None:
    raw = fs.dumps(
        {
            "header": {**fs.header(), "trace": "x", "extra": {"a": [1, 2]}},
            "payload": {
                "question_type": "knowledge",
                "choices": {
                    "status": 1,
                    "seq": 0,
                    "future": True,
                    "text": [{**fs.text_item("hi"), "new_field": None, "content_type": "text"}],
                },
                "usage": {"text": {**fs.usage()["text"], "cached_tokens": 1}},
                "something_else": {"x": 1},
            },
            "top_level_extra": 1,
        }
    )
    frame = decode_frame(raw)
    assert frame.payload is not None and frame.payload.choices is not None
    assert frame.payload.choices.text[0].content == "hi"
    assert frame.payload.usage is not None and frame.payload.usage.text.prompt_tokens == 37


def test_empty_text_is_allowed_only_on_the_last_frame() -> None:
    last = {
        "header": fs.header(status=2),
        "payload": {"choices": {"status": 2, "seq": 3, "text": []}},
    }
    assert decode_frame(fs.dumps(last)).payload.choices.text == []  # type: ignore[union-attr]
    middle = {"header": fs.header(), "payload": {"choices": {"status": 1, "seq": 3, "text": []}}}
    with pytest.raises(FrameError, match=r"\$\.payload\.choices\.text"):
        decode_frame(fs.dumps(middle))


def test_response_round_trip() -> None:
    frame = decode_frame(fs.final(2, "好", usage_=fs.usage()))
    assert decode_frame(frames.encode_response(frame)) == frame


# ------------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "not valid JSON"),
        ("", "not valid JSON"),
        (b"not json", "not valid JSON"),
        (b'{"header": {"code": 0}', "not valid JSON"),
        (b'{"header": {"code": 0}} trailing', "not valid JSON"),
        (b"[]", "Expected `object`, got `array`"),
        (b'[{"header": {"code": 0}}]', "Expected `object`, got `array`"),
        (b"null", "Expected `object`, got `null`"),
        (b"42", "Expected `object`, got `int`"),
        (b"{}", "missing required field `header`"),
        (b'{"payload": {"choices": null}}', "missing required field `header`"),
        (b'{"header": {}}', r"missing required field `code` - at `\$\.header`"),
        (b'{"header": {"code": "0"}}', r"Expected `int`, got `str` - at `\$\.header\.code`"),
        (b'{"header": {"code": 1.5}}', r"at `\$\.header\.code`"),
        (b'{"header": {"code": null}}', r"at `\$\.header\.code`"),
        (b'{"header": {"code": true}}', r"at `\$\.header\.code`"),
        (b'{"header": {"code": 1e400}}', r"at `\$\.header\.code`"),
        (b'{"header": "x"}', r"at `\$\.header`"),
        (b'{"header": {"code": 0, "sid": 5}}', r"at `\$\.header\.sid`"),
        (b'{"header": {"code": 0}, "payload": []}', r"at `\$\.payload`"),
        (b'{"header": {"code": 0}, "payload": {"choices": 1}}', r"at `\$\.payload\.choices`"),
        (
            b'{"header": {"code": 0}, "payload": {"choices": {"status": 1, "seq": 0}}}',
            r"missing required field `text` - at `\$\.payload\.choices`",
        ),
        (
            b'{"header": {"code": 0}, "payload": {"choices": {"status": 1, "seq": "1", '
            b'"text": [{}]}}}',
            r"at `\$\.payload\.choices\.seq`",
        ),
        (
            b'{"header": {"code": 0}, "payload": {"choices": {"status": 1, "seq": 0, '
            b'"text": [{"content": null}]}}}',
            r"at `\$\.payload\.choices\.text\[0\]\.content`",
        ),
        (
            b'{"header": {"code": 0}, "payload": {"choices": {"status": 1, "seq": 0, '
            b'"text": [{"function_call": {"arguments": "{}"}}]}}}',
            r"missing required field `name`",
        ),
        (
            b'{"header": {"code": 0}, "payload": {"usage": {"text": {"prompt_tokens": "3"}}}}',
            r"at `\$\.payload\.usage\.text",
        ),
        (b'{"header": {"code": 0, "message": "\xff\xfe"}}', "not valid UTF-8"),
        ('{"header": {"code": 0, "message": "\ud800"}}', "not valid UTF-8"),
    ],
)
def test_malformed_frames_raise_frame_error(raw: bytes | str, expected: str) -> None:
    with pytest.raises(FrameError, match=expected) as info:
        decode_frame(raw)
    assert isinstance(info.value, UpstreamProtocolError)
    assert info.value.status == 502
    assert info.value.code == "upstream_protocol_error"


def test_frame_error_is_an_upstream_protocol_error() -> None:
    assert issubclass(FrameError, UpstreamProtocolError)


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(
                    [
                        "header",
                        "payload",
                        "code",
                        "message",
                        "sid",
                        "status",
                        "choices",
                        "seq",
                        "text",
                        "content",
                        "role",
                        "index",
                        "usage",
                        "plugins",
                        "function_call",
                        "name",
                        "arguments",
                        "reasoning_content",
                        "prompt_tokens",
                        "completion_tokens",
                        "total_tokens",
                        "other",
                    ]
                ),
                inner,
                max_size=5,
            ),
        ),
        max_leaves=20,
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_frame(data)


@settings(max_examples=300, deadline=None)
@given(_json_values())
def test_arbitrary_json_values_only_raise_frame_error(value: Any) -> None:
    raw = json.dumps(value)
    for data in (raw, raw.encode("utf-8")):
        try:
            frame = decode_frame(data)
        except FrameError:
            continue
        # What decodes is a proper frame with the documented types.
        assert isinstance(frame.header.code, int)
        assert isinstance(frame.header.sid, str)


@settings(max_examples=200, deadline=None)
@given(fs.conversations(max_frames=3))
def test_generated_frames_decode_or_raise_frame_error(conversation: list[fs.Raw]) -> None:
    for raw in conversation:
        try:
            decode_frame(raw.data)
        except FrameError:
            assert raw.kind == "malformed", raw


# --------------------------------------------------------------------------- request frame


def _frame(**chat: Any) -> RequestFrame:
    return RequestFrame(
        header=RequestHeader(app_id="app"),
        parameter=Parameter(chat=ChatParameter(domain="generalv3.5", **chat)),
        payload=RequestPayload(message=MessageText(text=[Message(role="user", content="你好")])),
    )


def test_request_frame_omits_absent_optional_keys() -> None:
    encoded = json.loads(encode_request(_frame()))
    assert encoded == {
        "header": {"app_id": "app"},
        "parameter": {"chat": {"domain": "generalv3.5"}},
        "payload": {"message": {"text": [{"role": "user", "content": "你好"}]}},
    }
    assert "functions" not in encoded["payload"]


def test_request_frame_keeps_given_values() -> None:
    frame = _frame(temperature=0.5, max_tokens=4096, top_k=4)
    frame.header.uid = "user-1"
    frame.header.patch_id = ["p1"]
    frame.payload.functions = Functions(
        text=[FunctionDef(name="f", description="d", parameters={"type": "object"})]
    )
    encoded = json.loads(encode_request(frame))
    assert encoded["header"] == {"app_id": "app", "uid": "user-1", "patch_id": ["p1"]}
    assert encoded["parameter"]["chat"] == {
        "domain": "generalv3.5",
        "temperature": 0.5,
        "max_tokens": 4096,
        "top_k": 4,
    }
    assert encoded["payload"]["functions"] == {
        "text": [{"name": "f", "description": "d", "parameters": {"type": "object"}}]
    }


def test_request_frame_is_utf8_json_without_escaping_cjk() -> None:
    data = encode_request(_frame())
    assert "你好".encode() in data
    assert msgspec.json.decode(data)["payload"]["message"]["text"][0]["content"] == "你好"


def test_deeply_nested_frame_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="not valid JSON: it is nested too deeply"):
        deep = b"[" * 5000 + b"]" * 5000
        decode_frame(
            b'{"header": {"code": 0}, "payload": {"plugins": {"text": [{"x": ' + deep + b"}]}}}"
        )
