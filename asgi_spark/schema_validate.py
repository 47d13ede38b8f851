"""A small JSON Schema validator for the subset OpenAI's structured outputs accept.

Supported keywords: ``type`` (a name or a list of names: object, array, string, number, integer,
boolean, null), ``properties``, ``required``, ``additionalProperties`` (``false`` or a schema),
``items``, ``enum``, ``const``, ``anyOf``, ``oneOf``, ``allOf``, and local ``$ref`` into
``$defs`` or ``definitions`` (recursion included).  Other keywords (descriptions, formats,
bounds) do not make a document invalid here, as in OpenAI's strict mode where most of them are
not allowed anyway.  Numbers follow JSON Schema: ``1.0`` is an integer, ``true`` is not a number.

:func:`first_error` returns the first problem as a path and a reason (``$.items[2].name:
expected string, got integer``), or ``None`` for a valid document.  The gateway keeps this
small validator instead of a dependency (its core install has four); tests check it against
the ``jsonschema`` package on generated schemas and documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

_TYPES: Final = ("object", "array", "string", "number", "integer", "boolean", "null")


class SchemaError(ValueError):
    """The schema itself uses something this validator cannot follow (e.g. a remote $ref)."""


def type_of(value: Any) -> str:
    """The JSON type name of a decoded value (``integer`` for whole numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def first_error(document: Any, schema: Mapping[str, Any]) -> str | None:
    """The first way ``document`` breaks ``schema``, as ``"<path>: <reason>"``; ``None`` if
    it is valid.  :class:`SchemaError` when the schema cannot be followed."""
    return _Checker(schema).check(document, schema, "$", 0)


class _Checker:
    __slots__ = ("_root",)

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root

    def check(self, value: Any, schema: Any, path: str, depth: int) -> str | None:
        if depth > 64:
            raise SchemaError("the schema nests $ref deeper than 64 levels")
        if schema is True or schema == {}:
            return None
        if schema is False:
            return f"{path}: no value is allowed here"
        if not isinstance(schema, Mapping):
            raise SchemaError(f"a schema must be an object or a boolean, not {schema!r}")
        if "$ref" in schema:
            problem = self.check(value, self._resolve(schema["$ref"]), path, depth + 1)
            if problem is not None:
                return problem
        problem = self._own(value, schema, path)
        if problem is not None:
            return problem
        return self._combined(value, schema, path, depth) or self._children(
            value, schema, path, depth
        )

    def _own(self, value: Any, schema: Mapping[str, Any], path: str) -> str | None:
        kind = type_of(value)
        expected = schema.get("type")
        if expected is not None:
            names = [expected] if isinstance(expected, str) else list(expected)
            unknown = [n for n in names if n not in _TYPES]
            if unknown:
                raise SchemaError(f"unknown type {unknown[0]!r}")
            if kind not in names and not (kind == "integer" and "number" in names):
                return f"{path}: expected {' or '.join(names)}, got {kind}"
        if "const" in schema and not _equal(value, schema["const"]):
            return f"{path}: must be {json.dumps(schema['const'], ensure_ascii=False)}"
        if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
            options = ", ".join(json.dumps(o, ensure_ascii=False) for o in schema["enum"])
            return f"{path}: must be one of {options}"
        return None

    def _combined(self, value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
        for sub in schema.get("allOf", ()):
            problem = self.check(value, sub, path, depth + 1)
            if problem is not None:
                return problem
        if "anyOf" in schema:
            problems = [self.check(value, sub, path, depth + 1) for sub in schema["anyOf"]]
            if all(p is not None for p in problems):
                return f"{path}: matches none of anyOf ({problems[0]})"
        if "oneOf" in schema:
            matches = sum(self.check(value, s, path, depth + 1) is None for s in schema["oneOf"])
            if matches != 1:
                return f"{path}: must match exactly one of oneOf, matches {matches}"
        return None

    def _children(self, value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
        if isinstance(value, dict):
            properties: Mapping[str, Any] = schema.get("properties", {})
            for name in schema.get("required", ()):
                if name not in value:
                    return f"{path}: missing required property {name!r}"
            extra = schema.get("additionalProperties", True)
            for name, item in value.items():
                where = f"{path}.{name}"
                if name in properties:
                    problem = self.check(item, properties[name], where, depth + 1)
                elif extra is False:
                    return f"{path}: property {name!r} is not allowed"
                else:
                    problem = self.check(item, extra, where, depth + 1)
                if problem is not None:
                    return problem
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                problem = self.check(item, schema["items"], f"{path}[{index}]", depth + 1)
                if problem is not None:
                    return problem
        return None

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaError(f"only local $ref values are supported, not {ref!r}")
        node: Any = self._root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise SchemaError(f"$ref {ref!r} points at nothing")
            node = node[key]
        return node


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


__all__ = ["SchemaError", "first_error", "type_of"]
