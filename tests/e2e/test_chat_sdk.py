"""The official ``openai`` SDK against uvicorn serving the gateway, the simulator upstream."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.openapi import validate

from .server import API_KEY, API_SECRET, APP_ID, ServedGateway

HELLO = [{"role": "user", "content": "你好，介绍一下你自己"}]


def _chunks_valid(chunks: list[Any]) -> None:
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))


def test_non_stream_sync(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="spark-max", messages=HELLO)
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert completion.object == "chat.completion"
    assert completion.model == "spark-max"
    assert completion.id.startswith("chatcmpl-cht")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_stream_sync_shape(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="spark-max", messages=HELLO, stream=True))
    _chunks_valid(chunks)
    assert len(chunks) >= 2
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-cht")
    assert len({c.created for c in chunks}) == 1
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {"spark-max"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    reasons = [c.choices[0].finish_reason for c in chunks]
    assert reasons[-1] == "stop" and set(reasons[:-1]) == {None}
    assert chunks[-1].choices[0].delta.content, "the final Spark frame's text is kept"
    assert all(c.usage is None for c in chunks)


def test_stream_and_non_stream_agree(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "stream and non-stream must agree"}]
    whole = client.chat.completions.create(model="spark-max", messages=messages)
    chunks = list(client.chat.completions.create(model="spark-max", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content


async def test_stream_async_include_usage(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="spark-max", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    _chunks_valid(chunks)
    *content, last = chunks
    assert last.choices == [] and last.usage is not None and last.usage.total_tokens > 0
    assert all(c.usage is None for c in content)
    assert content[-1].choices[0].finish_reason == "stop"


async def test_non_stream_async(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(model="spark-lite", messages=HELLO)
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    assert completion.model == "spark-lite"
    assert "lite" in (completion.choices[0].message.content or "")


def test_finish_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="spark-max", messages=HELLO, max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_tool_call_non_stream_and_round_trip(client: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "please call get_weather for Hefei"}]
    completion = client.chat.completions.create(model="spark-max", messages=ask, tools=TOOLS)
    validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.id.startswith("call_")
    follow_up = [
        *ask,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    answer = client.chat.completions.create(model="spark-max", messages=follow_up, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content


def test_tool_call_stream(client: openai.OpenAI) -> None:
    ask = [{"role": "user", "content": "please call get_weather for Hefei"}]
    chunks = list(
        client.chat.completions.create(model="spark-max", messages=ask, tools=TOOLS, stream=True)
    )
    _chunks_valid(chunks)
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_reasoning_stream_x1(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="spark-x1", messages=HELLO, stream=True))
    _chunks_valid(chunks)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks
    )
    assert reasoning
    assert "".join(c.choices[0].delta.content or "" for c in chunks)


# ------------------------------------------------------------------------------- errors


def _assert_no_secrets(text: str) -> None:
    for secret in (API_KEY, API_SECRET, APP_ID, "authorization="):
        assert secret not in text


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    validate("ErrorResponse", info.value.response.json())
    assert info.value.code == "model_not_found"
    assert "spark-max" in info.value.message


def test_unsupported_parameter_is_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="spark-max", messages=HELLO, logprobs=True)
    validate("ErrorResponse", info.value.response.json())
    assert info.value.param == "logprobs"


@pytest.mark.parametrize(
    ("directive", "exc_type", "status", "code"),
    [
        ("[spark:error_code=10013]", openai.BadRequestError, 400, "content_filter"),
        ("[spark:error_code=10907]", openai.BadRequestError, 400, "context_length_exceeded"),
        ("[spark:error_code=11202]", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("[spark:error_code=11201]", openai.RateLimitError, 429, "insufficient_quota"),
        ("[spark:error_code=10110]", openai.InternalServerError, 503, "upstream_unavailable"),
        ("[spark:error_code=11200]", openai.RateLimitError, 429, "insufficient_quota"),
        (
            "[spark:error_code=11200,"
            'error_message="AppIdNoAuthError:(10:00:00.000) domain.generalv3.5"]',
            openai.InternalServerError,
            502,
            "upstream_auth_failed",
        ),
        ("[spark:error_code=10012]", openai.InternalServerError, 502, "upstream_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_frames_before_content(
    client: openai.OpenAI,
    directive: str,
    exc_type: type[openai.APIStatusError],
    status: int,
    code: str,
    stream: bool,
) -> None:
    messages = [{"role": "user", "content": f"hello {directive}"}]
    with pytest.raises(exc_type) as info:
        result = client.chat.completions.create(model="spark-max", messages=messages, stream=stream)
        list(result) if stream else None  # type: ignore[call-overload]
    assert info.value.status_code == status
    body = info.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["code"] == code
    assert "Spark" in body["error"]["message"] and "sid cht" in body["error"]["message"]
    _assert_no_secrets(info.value.response.text)


def test_error_after_content_is_an_error_event(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hello [spark:error_code=10012,error_after=2]"}]
    received: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
            model="spark-max", messages=messages, stream=True
        ):
            received.append(chunk)
    assert len(received) == 2
    assert "10012" in info.value.message


def test_output_moderation_after_content_finishes_with_content_filter(
    client: openai.OpenAI,
) -> None:
    messages = [{"role": "user", "content": "hello [spark:error_code=10014,error_after=2]"}]
    chunks = list(client.chat.completions.create(model="spark-max", messages=messages, stream=True))
    _chunks_valid(chunks)
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    whole = client.chat.completions.create(model="spark-max", messages=messages)
    assert whole.choices[0].finish_reason == "content_filter"
    assert whole.choices[0].message.content == "".join(
        c.choices[0].delta.content or "" for c in chunks
    )


def test_abrupt_upstream_close_is_never_a_normal_finish(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hello [spark:close_after=1]"}]
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="spark-max", messages=messages)
    assert info.value.code == "upstream_closed"
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="spark-max", messages=messages, stream=True))


def test_upstream_silence_times_out(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hello [spark:hang_after=0]"}]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="spark-quick-timeout", messages=messages)
    assert info.value.status_code == 504
    assert info.value.code == "upstream_timeout"


@pytest.mark.parametrize(
    ("status", "cause"),
    [(401, "signature"), (403, "clock skew"), (503, "unavailable")],
)
def test_refused_handshake(
    gateway: ServedGateway, client: openai.OpenAI, status: int, cause: str
) -> None:
    from asgi_spark.simulator import Faults

    assert gateway.simulator is not None
    gateway.simulator.faults = Faults(handshake_status=status)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="spark-max", messages=HELLO)
    assert info.value.status_code == (503 if status == 503 else 502)
    assert cause in info.value.message
    _assert_no_secrets(info.value.response.text)


def _image_question() -> list[Any]:
    parts = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "what is in the picture?"},
    ]
    return [{"role": "user", "content": parts}]


def test_image_model_answers_images(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="spark-image", messages=_image_question())
    assert "what is in the picture?" in (completion.choices[0].message.content or "")


def test_image_on_a_text_model_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="spark-max", messages=_image_question())
    assert info.value.param == "messages[0].content[0]"
    assert "image" in info.value.message


def test_slow_handshake_times_out_as_504(gateway: ServedGateway, client: openai.OpenAI) -> None:
    from asgi_spark.simulator import Faults

    assert gateway.simulator is not None
    gateway.simulator.faults = Faults(handshake_delay=5)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="spark-quick-timeout", messages=HELLO)
    assert info.value.status_code == 504
    assert "connecting" in info.value.message


def test_malformed_upstream_frame_is_a_protocol_error(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hello [spark:malformed_after=1]"}]
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="spark-max", messages=messages)
    assert info.value.code == "upstream_protocol_error"
    assert "sid cht" in info.value.message
