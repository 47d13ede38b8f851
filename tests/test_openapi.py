"""Self-test of tests/openapi.py: the validator accepts good bodies and rejects bad ones."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GOOD_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-cht000b702a@dx18d6fb9d758b894540",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "spark-max",
    "choices": [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "你好"},
            "logprobs": None,
            "finish_reason": None,
        }
    ],
}


def chunk(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD_CHUNK)
    body.update(changes)
    return body


def test_a_good_chunk_passes(openapi: ModuleType) -> None:
    openapi.validate("CreateChatCompletionStreamResponse", GOOD_CHUNK)
    assert openapi.errors("CreateChatCompletionStreamResponse", GOOD_CHUNK) == []


def test_nullable_fields_accept_null_and_still_check_values(openapi: ModuleType) -> None:
    # finish_reason / logprobs / usage are `nullable: true` (OpenAPI 3.0 style) in the document.
    openapi.validate("CreateChatCompletionStreamResponse", chunk(usage=None))
    bad = chunk()
    bad["choices"][0]["finish_reason"] = "finished"
    assert openapi.errors("CreateChatCompletionStreamResponse", bad)


def test_rejects_a_completion_object_in_a_stream_chunk(openapi: ModuleType) -> None:
    bad = chunk(object="chat.completion")
    problems = openapi.errors("CreateChatCompletionStreamResponse", bad)
    assert problems and "$.object" in problems[0] and "chat.completion.chunk" in problems[0]
    with pytest.raises(pytest.fail.Exception, match=r"\$\.object"):
        openapi.validate("CreateChatCompletionStreamResponse", bad)


def test_rejects_a_chunk_without_finish_reason(openapi: ModuleType) -> None:
    bad = chunk()
    del bad["choices"][0]["finish_reason"]
    with pytest.raises(pytest.fail.Exception, match="'finish_reason' is a required property"):
        openapi.validate("CreateChatCompletionStreamResponse", bad)


def test_refs_are_resolved(openapi: ModuleType) -> None:
    # `delta` is a $ref to ChatCompletionStreamResponseDelta, whose role is an enum.
    bad = chunk()
    bad["choices"][0]["delta"]["role"] = "robot"
    with pytest.raises(pytest.fail.Exception, match="robot"):
        openapi.validate("CreateChatCompletionStreamResponse", bad)


def test_error_response(openapi: ModuleType) -> None:
    good = {"error": {"message": "m", "type": "t", "param": None, "code": None}}
    openapi.validate("ErrorResponse", good)
    bad = {"error": {"message": "m", "type": "t", "code": None}}
    with pytest.raises(pytest.fail.Exception, match="'param' is a required property"):
        openapi.validate("ErrorResponse", bad)


def test_models(openapi: ModuleType) -> None:
    model = {"id": "spark-max", "object": "model", "created": 0, "owned_by": "iflytek"}
    openapi.validate("Model", model)
    openapi.validate("ListModelsResponse", {"object": "list", "data": [model]})
    with pytest.raises(pytest.fail.Exception):
        openapi.validate("ListModelsResponse", {"object": "models", "data": [model]})
    with pytest.raises(pytest.fail.Exception):
        openapi.validate("Model", {**model, "created": "yesterday"})


def test_validate_json_and_unknown_schema(openapi: ModuleType) -> None:
    assert (
        openapi.validate_json(
            "ErrorResponse", b'{"error": {"message": "m", "type": "t", "param": null, "code": "c"}}'
        )["error"]["code"]
        == "c"
    )
    with pytest.raises(pytest.fail.Exception, match="not JSON"):
        openapi.validate_json("ErrorResponse", b"data: {")
    with pytest.raises(KeyError):
        openapi.validate("NoSuchSchema", {})


def test_sse_data_splits_events(openapi: ModuleType) -> None:
    body = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n'
    assert openapi.sse_data(body) == ['{"a":1}', '{"b":2}', "[DONE]"]


def test_document_is_parsed_once(openapi: ModuleType) -> None:
    assert openapi.load() is openapi.load()


def test_env_var_overrides_the_path(
    openapi: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = tmp_path / "tiny.yaml"
    doc.write_text(
        "components:\n  schemas:\n    Thing:\n      type: object\n      nullable: true\n"
    )
    monkeypatch.setenv(openapi.ENV_VAR, str(doc))
    monkeypatch.setattr(openapi, "_document", None)
    assert openapi.path() == doc
    thing = openapi.load()["components"]["schemas"]["Thing"]
    assert thing == {"anyOf": [{"type": "object"}, {"type": "null"}]}
    monkeypatch.setenv(openapi.ENV_VAR, str(tmp_path / "missing.yaml"))
    monkeypatch.setattr(openapi, "_document", None)
    with pytest.raises(FileNotFoundError):
        openapi.load()


def test_the_vendored_extract_matches_the_document() -> None:
    """tests/data/openai-schemas.json must be regenerated when the shared document changes."""
    import pytest

    from tests import openapi
    from tests.data.extract_openai_schemas import closure

    if not openapi._DEFAULT_PATH.is_file():
        pytest.skip("the shared OpenAPI document is not beside this clone")
    document = openapi.read_raw(openapi._DEFAULT_PATH)
    extract = openapi.read_raw(openapi.EXTRACT_PATH)
    assert extract["components"]["schemas"] == closure(document["components"]["schemas"])
