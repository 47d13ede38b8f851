"""The responses store is scoped to the client key that created each response: another key
cannot continue or read it (a 404, as for an unknown id)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from asgi_spark import create_app

from .server import ServedGateway, spark_entry

KEYS = [
    {"key": "sk-alice-0123456789", "name": "alice"},
    {"key": "sk-bob-0123456789", "name": "bob"},
]


@pytest.fixture(scope="module")
def keyed() -> Iterator[ServedGateway]:
    server = ServedGateway(
        lambda url: create_app({"models": [spark_entry("spark-max", url)], "api_keys": KEYS})
    ).start()
    yield server
    server.stop()


def client(server: ServedGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


def test_another_key_cannot_continue_or_read_a_response(keyed: ServedGateway) -> None:
    alice, bob = client(keyed, KEYS[0]["key"]), client(keyed, KEYS[1]["key"])
    first = alice.responses.create(model="spark-max", input="My name is Alice.")
    with pytest.raises(openai.NotFoundError) as info:
        bob.responses.create(model="spark-max", input="Who am I?", previous_response_id=first.id)
    assert info.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(first.id)
    second = alice.responses.create(
        model="spark-max", input="Who am I?", previous_response_id=first.id
    )
    assert second.status == "completed"
    assert alice.responses.retrieve(first.id).id == first.id
    with pytest.raises(openai.AuthenticationError):
        client(keyed, "sk-nobody").responses.create(model="spark-max", input="x")
    with pytest.raises(openai.AuthenticationError):
        client(keyed, "sk-nobody").completions.create(model="spark-max", prompt="x")
