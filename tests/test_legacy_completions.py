"""Legacy Completions: the translation into a chat request and the field table (no sockets)."""

from __future__ import annotations

import msgspec

from asgi_spark.legacy_completions import completion_decoder, translate


def test_translation() -> None:
    request = completion_decoder.decode(
        msgspec.json.encode(
            {
                "model": "m",
                "prompt": "Once upon a time",
                "max_tokens": 20,
                "stop": ["\n"],
                "temperature": 0.2,
                "top_p": 0.5,
                "n": 1,
                "user": "u",
                "seed": 7,
                "stream": True,
                "stream_options": {"include_usage": True},
                "echo": False,
                "best_of": 1,
                "spark": {"top_k": 2},
            }
        )
    )
    chat, rename = translate(request)
    assert [(m.role, m.content) for m in chat.messages] == [("user", "Once upon a time")]
    assert (chat.max_tokens, chat.stop, chat.temperature, chat.top_p) == (20, ["\n"], 0.2, 0.5)
    assert (chat.n, chat.user, chat.seed, chat.stream) == (1, "u", 7, True)
    assert chat.stream_options is not None and chat.stream_options.include_usage
    assert chat.spark == {"top_k": 2}
    assert rename("messages[0].content") == "prompt" and rename("messages") == "prompt"
    assert rename("max_completion_tokens") == "max_tokens" and rename("stop") is None
