"""Hostile and random request bodies against the served gateway: never a 5xx, always an
OpenAI error shape (or a valid answer).  Hypothesis draws bodies that mix the real fields with
wrong types, odd nesting, huge and empty values; the examples are bounded (CI profile)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.openapi import validate

from .server import ServedGateway

MODELS = ("spark-max", "spark-lite", "spark-x1", "spark-image", "nope")
FIELDS = (
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "user",
    "metadata",
    "logprobs",
    "seed",
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
roles = st.sampled_from(["user", "system", "assistant", "tool", "developer", "function", "x"])
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=30)}),
    st.fixed_dictionaries(
        {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": st.text()})}
    ),
    json_values,
)
messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": roles, "content": st.one_of(st.text(max_size=40), st.lists(parts, max_size=3))}
        ),
        json_values,
    ),
    max_size=4,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {"model": st.sampled_from(MODELS), "messages": messages},
        optional={name: json_values for name in FIELDS[2:]},
    ),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    json_values,
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, stream=st.booleans())
def test_no_body_gives_a_5xx(gateway: ServedGateway, body: Any, stream: bool) -> None:
    if isinstance(body, dict) and "stream" not in body:
        body = {**body, "stream": stream}
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["message"]
