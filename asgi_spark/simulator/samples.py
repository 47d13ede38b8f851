"""Sample documents for a JSON Schema, so the simulator's function calls and instructed JSON
answers fit the schema they were asked for (the subset OpenAI's structured outputs use).

Deterministic: ``const`` or the first ``enum`` value, the first ``anyOf``/``oneOf`` branch,
every declared property of an object, one item per array (``minItems`` more when asked),
``"sample"`` for strings, ``1`` for numbers, ``true`` for booleans, ``null`` for null, local
``$ref`` followed (below a depth of 6 an object gets only its required properties, so
recursive schemas end).

A text answer is JSON when the question asks for it (:func:`json_request`): a question holding
``JSON Schema:`` followed by a JSON object gets a sample document of that schema; one that asks
for ``a JSON object`` gets ``{"answer": ...}``.  This is how the simulator decides; real Spark
follows such instructions too, less reliably, which is why the gateway validates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

_MAX_DEPTH: Final = 6
_HARD_DEPTH: Final = 40
_SCALARS: Final[dict[str, Any]] = {
    "string": "sample",
    "number": 1,
    "integer": 1,
    "boolean": True,
    "null": None,
}
_SCHEMA_MARKER: Final = re.compile(r"JSON Schema:\s*")
_OBJECT_ASKED: Final = re.compile(r"\ba JSON object\b", re.IGNORECASE)


def sample(schema: Any, root: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
    """A document valid for ``schema`` (see the module docstring)."""
    if not isinstance(schema, Mapping):
        return "sample"
    root = schema if root is None else root
    if depth > _HARD_DEPTH:
        return None  # a schema that requires infinite nesting has no document anyway
    if "$ref" in schema:
        return sample(_resolve(root, schema["$ref"]), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return sample(schema[key][0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        if depth >= _MAX_DEPTH:  # deep (recursive) schemas: only what is required
            required = set(schema.get("required", ()))
            properties = {k: v for k, v in properties.items() if k in required}
        return {name: sample(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        if "items" not in schema or schema.get("maxItems") == 0:
            return []
        count = max(1, int(schema.get("minItems", 1)))
        return [sample(schema["items"], root, depth + 1) for _ in range(count)]
    return _SCALARS.get(str(kind), "sample")


def _resolve(root: Mapping[str, Any], ref: Any) -> Any:
    node: Any = root
    if not isinstance(ref, str) or not ref.startswith("#"):
        return {}
    for part in filter(None, ref[1:].split("/")):
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node


def json_request(question: str) -> str | None:
    """The JSON text a question asks for, or ``None`` when it asks for none."""
    marker = _SCHEMA_MARKER.search(question)
    if marker is not None:
        try:
            schema, _ = json.JSONDecoder().raw_decode(question, marker.end())
        except ValueError:
            schema = None
        if isinstance(schema, dict):
            return json.dumps(sample(schema), ensure_ascii=False)
    if _OBJECT_ASKED.search(question):
        return json.dumps({"answer": "sample"}, ensure_ascii=False)
    return None


__all__ = ["json_request", "sample"]
