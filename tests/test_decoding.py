"""asgi_spark.decoding: one classification of JSON failures, whatever msgspec release raised them.

The fake decoders raise what other msgspec releases raise for the same input (0.18:
``UnicodeDecodeError`` for invalid UTF-8; 0.23: ``DecodeError("Invalid UTF-8 encoded string")``),
so the wording cannot depend on the installed release.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asgi_spark.decoding import JsonDecodeFailure, decode, split_path

BAD_UTF8 = b'{"a": "\xff\xfe"}'


class _Raises:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def decode(self, data: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        UnicodeDecodeError("utf-8", BAD_UTF8, 7, 8, "invalid start byte"),  # msgspec 0.18
        msgspec.DecodeError("Invalid UTF-8 encoded string"),  # msgspec 0.23
        msgspec.DecodeError("some future wording"),
    ],
)
def test_invalid_utf8_is_encoding_whatever_was_raised(exc: BaseException) -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(_Raises(exc), BAD_UTF8)
    assert info.value.kind == "encoding"
    assert info.value.describe("the body") == "the body is not valid UTF-8"


def test_lone_surrogate_in_str_is_encoding() -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(), '{"a": "\ud800"}')
    assert info.value.kind == "encoding"


def test_real_decoder_invalid_utf8() -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(), BAD_UTF8)
    assert info.value.kind == "encoding"


def test_depth() -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(), b"[" * 5000 + b"]" * 5000)
    assert info.value.kind == "depth"
    assert info.value.describe("x") == "x is not valid JSON: it is nested too deeply"


@pytest.mark.parametrize("data", [b"", b"nope", b"[1,", b'{"a": 1} x'])
def test_syntax(data: bytes) -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(), data)
    assert info.value.kind == "syntax"
    assert info.value.describe("x").startswith("x is not valid JSON: ")


class _Point(msgspec.Struct):
    x: int
    tags: list[str] = []


def test_schema_has_the_path() -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(_Point), b'{"x": 1, "tags": ["a", 2]}')
    assert info.value.kind == "schema"
    assert info.value.path == "tags[1]"
    assert info.value.detail == "Expected `str`, got `int`"
    assert info.value.describe("p") == "p is malformed: Expected `str`, got `int` (at 'tags[1]')"


def test_schema_at_the_root_has_no_path() -> None:
    with pytest.raises(JsonDecodeFailure) as info:
        decode(msgspec.json.Decoder(_Point), b"[]")
    assert (info.value.kind, info.value.path) == ("schema", None)


def test_split_path() -> None:
    assert split_path("Expected `int` - at `$.a[0].b`") == ("Expected `int`", "a[0].b")
    assert split_path("Expected `int`") == ("Expected `int`", None)


def test_success_passes_through() -> None:
    assert decode(msgspec.json.Decoder(_Point), b'{"x": 2}') == _Point(x=2)
