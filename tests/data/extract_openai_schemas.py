"""Regenerate ``openai-schemas.json``: the schemas the tests validate against, and every schema
they reference, extracted from OpenAI's OpenAPI document (MIT licensed, see
``openai-openapi.LICENSE`` beside this file).

The tests read the full document from ``../shared/reference/openai-openapi.yaml`` when it is
there and fall back to this extract otherwise, so a clone outside this workspace can run them.
``tests/test_openapi.py`` checks that the extract still equals the document's schemas.

Run:  python tests/data/extract_openai_schemas.py [path/to/openai-openapi.yaml]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOTS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "ErrorResponse",
    "ListModelsResponse",
    "Model",
    "Response",
    "ResponseStreamEvent",
)
HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared/reference/openai-openapi.yaml"
TARGET = HERE / "openai-schemas.json"
PREFIX = "#/components/schemas/"


def closure(schemas: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> dict[str, Any]:
    """``roots`` and every schema reachable from them through ``$ref``."""
    found: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = schemas[name]
        todo.extend(_refs(schemas[name]))
    return dict(sorted(found.items()))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            out.append(ref[len(PREFIX) :])
        for value in node.values():
            out.extend(_refs(value))
        return out
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    return []


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with source.open("rb") as fh:
        document = yaml.load(fh, Loader=loader)
    extract = {"components": {"schemas": closure(document["components"]["schemas"])}}
    TARGET.write_text(json.dumps(extract, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    print(f"{TARGET}: {len(extract['components']['schemas'])} schemas")


if __name__ == "__main__":
    main()
