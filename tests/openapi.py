"""Validate JSON against the OpenAI OpenAPI document's schemas, for any test in this project.

Usage (from a test)::

    from tests.openapi import validate          # or use the session fixture ``openapi``

    validate("CreateChatCompletionStreamResponse", json.loads(payload))
    validate_json("CreateChatCompletionResponse", response.content)   # bytes or str
    for payload in sse_data(body):                                    # SSE body → data payloads
        ...

API:

* ``validate(schema_name, instance)`` checks ``instance`` (already-parsed JSON) against
  ``#/components/schemas/<schema_name>`` and **fails the current test** (``pytest.fail``) with
  the jsonschema message and the path of the offending value on the first violation.
* ``validate_json(schema_name, data)`` parses ``data`` (``bytes``/``str``) first.
* ``errors(schema_name, instance)`` returns the violation messages without failing (empty list
  when valid), for tests that assert an instance is *rejected*.
* ``sse_data(body)`` splits a ``text/event-stream`` body into its ``data:`` payloads (``str``),
  ``[DONE]`` included.
* The fixture ``openapi`` (``tests/conftest.py``, session scope) returns this module.

Schemas the project validates against: ``CreateChatCompletionResponse``,
``CreateChatCompletionStreamResponse``, ``CreateCompletionResponse``, ``ErrorResponse``,
``ListModelsResponse``, ``Model``, ``Response`` and ``ResponseStreamEvent`` (the Responses API).

Where the document comes from: ``$ASGI_SPARK_OPENAPI`` if set, else
``<repo>/../shared/reference/openai-openapi.yaml``, else (a clone outside this workspace) the
extract ``tests/data/openai-schemas.json`` of exactly the schemas above and what they reference
(``tests/test_openapi.py`` checks it still matches the document).  It is parsed once per process
(libyaml's ``CSafeLoader`` when available) and cached in this module, so property tests reuse it.

Validation uses jsonschema's ``Draft202012Validator`` with a ``referencing`` registry holding the
whole document, so ``$ref: "#/components/schemas/X"`` resolves.  One adaptation: the OpenAI
document still marks some fields with the OpenAPI 3.0 keyword ``nullable: true`` (for example a
stream chunk's ``finish_reason`` and ``logprobs``), which JSON Schema 2020-12 ignores; every such
schema ``S`` is rewritten to ``{"anyOf": [S, {"type": "null"}]}``, which is what ``nullable``
means.  Nothing else is changed; ``format`` is not asserted (the 2020-12 default).
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "DOCUMENT_URI",
    "errors",
    "load",
    "path",
    "sse_data",
    "validate",
    "validate_json",
    "validate_response_event",
]

ENV_VAR = "ASGI_SPARK_OPENAPI"
DOCUMENT_URI = "urn:openai-openapi"

_REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_PATH = _REPO_ROOT.parent / "shared/reference/openai-openapi.yaml"
EXTRACT_PATH = _REPO_ROOT / "tests/data/openai-schemas.json"

_document: dict[str, Any] | None = None  # the parsed, adapted document (module-level cache)


def path() -> Path:
    """Where the OpenAPI document is read from."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return _DEFAULT_PATH if _DEFAULT_PATH.is_file() else EXTRACT_PATH


def read_raw(source: Path) -> dict[str, Any]:
    """The document at ``source`` as parsed (YAML, or the JSON extract), not adapted."""
    if source.suffix == ".json":
        raw: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
        return raw
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with source.open("rb") as fh:
        document: dict[str, Any] = yaml.load(fh, Loader=loader)  # a safe loader
    return document


def _nullable_to_anyof(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_to_anyof(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_anyof(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def load() -> dict[str, Any]:
    """The OpenAPI document (parsed once, then cached)."""
    global _document
    if _document is None:
        source = path()
        if not source.is_file():
            raise FileNotFoundError(
                f"OpenAI OpenAPI document not found at {source} (set ${ENV_VAR})"
            )
        raw = read_raw(source)
        # Only the components are needed; the paths are large and never referenced.
        _document = {"components": _nullable_to_anyof(raw["components"])}
    return _document


@cache
def _registry() -> Registry[Any]:
    return Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(load()))


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    if schema_name not in load()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {path()}")
    ref = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(ref, registry=_registry())


def errors(schema_name: str, instance: object) -> list[str]:
    """Violations of ``schema_name`` by ``instance`` as readable messages (empty when valid)."""
    found = list(_validator(schema_name).iter_errors(instance))
    if not found:
        return []
    messages = []
    for error in [best_match(found), *found]:
        where = error.json_path
        messages.append(f"{where}: {error.message}")
    return list(dict.fromkeys(messages))


def validate(schema_name: str, instance: object) -> None:
    """Fail the current test unless ``instance`` is valid against ``schema_name``."""
    problems = errors(schema_name, instance)
    if problems:
        shown = json.dumps(instance, ensure_ascii=False, default=str)
        if len(shown) > 2000:
            shown = shown[:2000] + "…"
        pytest.fail(
            f"not a valid {schema_name}: {problems[0]}\n"
            + "".join(f"  also: {p}\n" for p in problems[1:5])
            + f"instance: {shown}",
            pytrace=False,
        )


#: The schema of each Responses stream event type (``ResponseStreamEvent`` is their union, whose
#: failure messages say only "not valid under any of the given schemas").
RESPONSE_EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.reasoning_text.delta": "ResponseReasoningTextDeltaEvent",
    "response.reasoning_text.done": "ResponseReasoningTextDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.output_text.annotation.added": "ResponseOutputTextAnnotationAddedEvent",
    "error": "ResponseErrorEvent",
}


def validate_response_event(instance: dict[str, Any]) -> None:
    """Validate a Responses stream event against its own schema, then the union."""
    kind = instance.get("type")
    if kind not in RESPONSE_EVENT_SCHEMAS:
        pytest.fail(f"not a Responses stream event type: {kind!r}", pytrace=False)
    validate(RESPONSE_EVENT_SCHEMAS[str(kind)], instance)
    validate("ResponseStreamEvent", instance)


def validate_json(schema_name: str, data: bytes | str) -> Any:
    """Parse ``data`` as JSON, validate it like :func:`validate`, and return the parsed value."""
    try:
        instance = json.loads(data)
    except ValueError as exc:
        pytest.fail(f"not JSON, so not a valid {schema_name}: {exc}: {data!r:.500}", pytrace=False)
    validate(schema_name, instance)
    return instance


def sse_data(body: bytes | str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (multi-line data joined by ``\\n``)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    payloads: list[str] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [
            line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")
        ]
        if lines:
            payloads.append("\n".join(lines))
    return payloads
