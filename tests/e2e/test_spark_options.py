"""Spark's own options through the SDK's ``extra_body``, and web-search references as
``url_citation`` annotations."""

from __future__ import annotations

import openai
import pytest

from tests.openapi import validate

from .server import ServedGateway

ASK = [{"role": "user", "content": "合肥今天有什么新闻"}]
SEARCH = {"spark": {"web_search": {"search_mode": "deep"}, "top_k": 3, "chat_id": "c-1"}}


def test_options_reach_spark(client: openai.OpenAI, gateway: ServedGateway) -> None:
    client.chat.completions.create(model="spark-max", messages=ASK, extra_body=SEARCH)  # type: ignore[arg-type]
    chat = gateway.simulator.requests[-1]["parameter"]["chat"]  # type: ignore[union-attr]
    assert (chat["top_k"], chat["chat_id"]) == (3, "c-1")
    assert chat["tools"][0]["web_search"]["search_mode"] == "deep"


def test_web_search_references_become_annotations(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="spark-max", messages=ASK, extra_body=SEARCH)  # type: ignore[arg-type]
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    message = completion.choices[0].message
    assert message.content
    notes = message.annotations or []
    assert [a.url_citation.url for a in notes] == [
        "https://search.example.com/1",
        "https://search.example.com/2",
    ]
    assert all(a.type == "url_citation" for a in notes)
    assert notes[0].url_citation.end_index == len(message.content)


def test_streamed_references_come_first(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="spark-max",
            messages=ASK,  # type: ignore[arg-type]
            extra_body=SEARCH,
            stream=True,
        )
    )
    first = chunks[0].choices[0].delta.model_dump()
    urls = [a["url_citation"]["url"] for a in first["annotations"]]
    assert urls == ["https://search.example.com/1", "https://search.example.com/2"]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_web_search_on_lite_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="spark-lite", messages=ASK, extra_body=SEARCH)  # type: ignore[arg-type]
    assert info.value.body["param"] == "spark.web_search"  # type: ignore[index]
