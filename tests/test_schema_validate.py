"""The gateway's JSON Schema subset validator agrees with the ``jsonschema`` package on
generated schemas and documents, and names where a document breaks its schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from asgi_spark.schema_validate import SchemaError, first_error

KEYS = st.sampled_from(["a", "b", "c"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, -2.0]),
    st.sampled_from(["", "x", "y"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
types = st.sampled_from(["object", "array", "string", "number", "integer", "boolean", "null"])


def _object(sub: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda props, req, closed: {
            "type": "object",
            "properties": props,
            "required": sorted(set(req) & set(props)),
            **({"additionalProperties": False} if closed else {}),
        },
        st.dictionaries(KEYS, sub, max_size=3),
        st.lists(KEYS, max_size=3),
        st.booleans(),
    )


schemas = st.recursive(
    st.one_of(
        st.builds(lambda t: {"type": t}, types),
        st.builds(lambda ts: {"type": ts}, st.lists(types, min_size=1, max_size=2, unique=True)),
        st.builds(lambda e: {"enum": e}, st.lists(scalars, min_size=1, max_size=3)),
        st.builds(lambda c: {"const": c}, scalars),
    ),
    lambda sub: st.one_of(
        _object(sub),
        st.builds(lambda s: {"type": "array", "items": s}, sub),
        st.builds(lambda a, b: {"anyOf": [a, b]}, sub, sub),
        st.builds(lambda a, b: {"oneOf": [a, b]}, sub, sub),
    ),
    max_leaves=6,
)
# $defs live at the root; $ref points there directly or from a property
rooted = st.one_of(
    schemas,
    st.builds(lambda d: {"$defs": {"D": d}, "$ref": "#/$defs/D"}, schemas),
    st.builds(
        lambda d, req: {
            "$defs": {"D": d},
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/D"}, "b": {"$ref": "#/$defs/D"}},
            "required": req,
        },
        schemas,
        st.sampled_from([[], ["a"]]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(schema=rooted, document=documents)
def test_agrees_with_jsonschema(schema: dict[str, Any], document: Any) -> None:
    expected = Draft202012Validator(schema).is_valid(document)
    problem = first_error(document, schema)
    assert (problem is None) == expected, (schema, document, problem)


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
        "kind": {"enum": ["a", "b"]},
    },
    "required": ["name", "kind"],
    "additionalProperties": False,
    "$defs": {"tag": {"type": "object", "properties": {"v": {"type": "integer"}}}},
}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"name": "x", "kind": "a"}, None),
        ({"name": 1, "kind": "a"}, "$.name: expected string, got integer"),
        ({"kind": "a"}, "$: missing required property 'name'"),
        ({"name": "x", "kind": "c"}, '$.kind: must be one of "a", "b"'),
        ({"name": "x", "kind": "a", "z": 1}, "$: property 'z' is not allowed"),
        ({"name": "x", "kind": "a", "tags": [{"v": 1}, {"v": "2"}]}, "$.tags[1].v: expected"),
        ([], "$: expected object, got array"),
    ],
)
def test_names_the_path_that_failed(document: Any, problem: str | None) -> None:
    found = first_error(document, PERSON)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_recursive_refs_are_followed() -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["kids"],
            }
        },
        "$ref": "#/$defs/node",
    }
    assert first_error({"kids": [{"kids": []}]}, tree) is None
    assert first_error({"kids": [{}]}, tree) == "$.kids[0]: missing required property 'kids'"


@pytest.mark.parametrize(
    "schema", [{"$ref": "http://example.com/s"}, {"$ref": "#/$defs/none"}, {"type": "thing"}]
)
def test_schemas_it_cannot_follow_are_schema_errors(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        first_error({}, schema)
