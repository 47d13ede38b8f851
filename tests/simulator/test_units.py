"""The sans-I/O pieces on their own: tokens, sids, fault parsing, directives, scripts."""

from __future__ import annotations

import json
import random

import pytest

from asgi_spark.adapters.spark.versions import find_version
from asgi_spark.simulator import Faults, count_tokens
from asgi_spark.simulator.directives import DirectiveError, extract_directives
from asgi_spark.simulator.errors import SparkError
from asgi_spark.simulator.faults import faults_from_assignments, parse_assignments
from asgi_spark.simulator.script import (
    Abort,
    Close,
    Hang,
    Pause,
    Send,
    answer_script,
    sample_arguments,
    split_text,
)
from asgi_spark.simulator.sid import SidGenerator, beijing_time, sid_millis
from asgi_spark.simulator.tokens import truncate_tokens
from asgi_spark.simulator.validate import validate_request

from .helpers import chat_frame


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   ", 0),
        ("hello", 1),
        ("hello world_2", 2),
        ("你好", 2),
        ("你好, world!", 5),
        ("GPT-4o：很好。", 7),
        ("a\nb\tc", 3),
    ],
)
def test_count_tokens(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_truncate_tokens() -> None:
    text = "This is 一个 test, ok?"
    assert [truncate_tokens(text, n) for n in range(0, 4)] == ["", "This", "This is", "This is 一"]
    assert truncate_tokens(text, 100) == text
    for n in range(12):
        assert count_tokens(truncate_tokens(text, n)) == min(n, count_tokens(text))


def test_sid_format_and_time() -> None:
    sid = SidGenerator(pid=0xB, host_tail=0xB894, port=54321)(0x18D6FB9D758)
    assert sid == "cht000b0000@dx18d6fb9d758b894540"
    assert len(sid) == 32
    assert sid_millis(sid) == 0x18D6FB9D758
    assert beijing_time(0x18D6FB9D758) == "00:07:46.776"  # 2024-02-03 16:07:46.776 UTC
    with pytest.raises(ValueError):
        sid_millis("not a sid")


def test_sids_are_unique() -> None:
    make = SidGenerator()
    assert len({make(1_700_000_000_000) for _ in range(1000)}) == 1000


def test_error_message_format() -> None:
    error = SparkError.for_code(10014)
    assert error.message(0x18D6FB9D758).startswith("OutputAuditError:(00:07:46.776) ")
    assert SparkError.for_code(12345, "x").message(0) == "EngineError:(08:00:00.000) x"


def test_parse_assignments() -> None:
    assert parse_assignments(' error_code=10014 , error_after = 2,answer="a, b]" ') == {
        "error_code": 10014,
        "error_after": 2,
        "answer": "a, b]",
    }
    assert parse_assignments("first_frame_delay=0.25") == {"first_frame_delay": 0.25}
    assert parse_assignments("") == {}
    for bad in ("nope=1", "chunks=x", "chunks", "frame_delay=nan", 'answer="x'):
        with pytest.raises(ValueError):
            parse_assignments(bad)


def test_faults_from_assignments_and_merge() -> None:
    base = faults_from_assignments(["chunks=2", "error_code=10013,error_after=1"])
    assert base == Faults(chunks=2, error_code=10013, error_after=1)
    assert base.merged(Faults(chunks=5)) == Faults(chunks=5, error_code=10013, error_after=1)
    assert base.merged(Faults()) is base
    assert Faults().is_empty() and not base.is_empty()
    with pytest.raises(ValueError, match="needs error_code"):
        faults_from_assignments(["error_message=x"])


def test_extract_directives() -> None:
    text, faults = extract_directives("tell me [spark:chunks=3] a joke [spark:close_after=1]")
    assert text == "tell me a joke"
    assert faults == Faults(chunks=3, close_after=1)
    assert extract_directives("no directives [here]") == ("no directives [here]", Faults())
    with pytest.raises(DirectiveError, match=r"\[spark:chunks=-1\]"):
        extract_directives("x [spark:chunks=-1]")
    with pytest.raises(DirectiveError, match="handshake_delay cannot be set from a prompt"):
        extract_directives("x [spark:handshake_delay=1]")


def test_split_text() -> None:
    rng = random.Random(1)
    text = "abcdefghijklmnopqrstuvwxyz"
    for pieces in (1, 2, 5, 26):
        parts = split_text(text, pieces, rng)
        assert len(parts) == pieces and "".join(parts) == text and all(parts)
    assert split_text("ab", 4, rng) == ["a", "b", "", ""]
    assert split_text("", 1, rng) == [""]


def test_sample_arguments() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "n": {"type": ["null", "number"]},
            "e": {"enum": [3, 4]},
            "a": {"type": "array"},
            "weird": "not a schema",
        },
    }
    assert sample_arguments(schema) == {"s": "sample", "n": 1, "e": 3, "a": [], "weird": "sample"}
    assert sample_arguments({}) == {}


SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "kind": {"anyOf": [{"const": "a"}, {"type": "null"}]},
            "home": {"$ref": "#/$defs/place"},
        },
        "required": ["name", "age", "tags", "kind", "home"],
        "additionalProperties": False,
        "$defs": {
            "place": {
                "type": "object",
                "properties": {
                    "city": {"enum": ["合肥", "北京"]},
                    "near": {"$ref": "#/$defs/place"},
                },
                "required": ["city"],
            }
        },
    },
    {"type": "array", "items": {"type": ["number", "null"]}},
    {"type": "string"},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_samples_fit_their_schema(schema: dict[str, object]) -> None:
    from jsonschema import Draft202012Validator

    from asgi_spark.simulator.samples import sample

    Draft202012Validator(schema).validate(sample(schema))


def test_a_question_asking_for_json_gets_json() -> None:
    from asgi_spark.simulator.samples import json_request

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    question = f"Give me the count. JSON Schema: {json.dumps(schema)} Thanks."
    assert json.loads(json_request(question) or "") == {"n": 1}
    assert json.loads(json_request("reply with a JSON object please") or "") == {"answer": "sample"}
    assert json_request("hello") is None


def _request(text: str = "hello", **chat: object):  # type: ignore[no-untyped-def]
    version = find_version("v3.5")
    assert version is not None
    return validate_request(chat_frame(text, **chat), version=version, app_id="sim-app")


def test_answer_script_shapes() -> None:
    normal = answer_script(_request(), Faults(), "sid", 0)
    assert isinstance(normal[-1], Close) and all(isinstance(s, Send) for s in normal[:-1])

    delayed = answer_script(
        _request(), Faults(first_frame_delay=1, frame_delay=0.5, chunks=3), "sid", 0
    )
    assert [type(s) for s in delayed] == [Pause, Send, Pause, Send, Pause, Send, Close]
    assert [s.seconds for s in delayed if isinstance(s, Pause)] == [1, 0.5, 0.5]

    aborted = answer_script(_request(), Faults(close_after=2), "sid", 0)
    assert [type(s) for s in aborted] == [Send, Send, Abort]
    hung = answer_script(_request(), Faults(hang_after=0), "sid", 0)
    assert [type(s) for s in hung] == [Hang]


def test_smallest_terminating_count_wins() -> None:
    steps = answer_script(
        _request(), Faults(hang_after=3, close_after=1, error_code=10013, error_after=2), "s", 0
    )
    assert [type(s) for s in steps] == [Send, Abort]
    tie = answer_script(_request(), Faults(close_after=1, error_code=10013, error_after=1), "s", 0)
    assert [type(s) for s in tie] == [Send, Send, Close]
    assert isinstance(tie[1], Send) and '"code":10013' in tie[1].data
