"""Request fields Spark cannot honour, as data: :data:`UNSUPPORTED` (refused with a 400 that
names the field) and :data:`IGNORED` (accepted, they do not change what a correct answer is).
The README's lists are tested against these tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ...errors import InvalidRequestError, UnsupportedParameterError
from ...openai_types import ChatCompletionRequest
from .versions import SparkVersion


def refuse(param: str, why: str) -> UnsupportedParameterError:
    return UnsupportedParameterError(f"'{param}' is not supported by Spark: {why}", param=param)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A request field Spark cannot honour: refused with a 400 naming it when ``applies``."""

    param: str
    why: str  # may name ``{product}``
    applies: Callable[[ChatCompletionRequest, SparkVersion], bool]


def _forced(choice: str | dict[str, Any] | None) -> bool:
    return choice is not None and choice not in ("auto", "none")


_NO_LOGPROBS = "Spark does not return token log probabilities"
_CHOICE = "Spark decides by itself whether to call a function; use 'auto' or 'none'"

#: Every refused parameter, in the order they are checked (the README's list is tested
#: against it).
UNSUPPORTED: Final[tuple[Unsupported, ...]] = (
    Unsupported(
        "n",
        "Spark returns one choice per request; send n=1 or omit it",
        lambda r, v: r.n is not None and r.n != 1,
    ),
    Unsupported(
        "logprobs", "Spark does not return token log probabilities", lambda r, v: bool(r.logprobs)
    ),
    Unsupported(
        "top_logprobs",
        "Spark does not return token log probabilities",
        lambda r, v: bool(r.top_logprobs),
    ),
    Unsupported("stop", "Spark has no stop sequences", lambda r, v: bool(r.stop)),
    Unsupported("logit_bias", "Spark has no logit bias", lambda r, v: bool(r.logit_bias)),
    Unsupported(
        "response_format",
        "Spark has no JSON mode; only {'type': 'text'} works",
        lambda r, v: (r.response_format or {}).get("type", "text") != "text",
    ),
    Unsupported(
        "modalities",
        "Spark answers with text only",
        lambda r, v: bool(r.modalities) and any(m != "text" for m in r.modalities or ()),
    ),
    Unsupported("audio", "Spark answers with text only", lambda r, v: bool(r.audio)),
    Unsupported("prediction", "Spark has no predicted outputs", lambda r, v: bool(r.prediction)),
    Unsupported(
        "web_search_options",
        "web search is not exposed by this gateway yet",
        lambda r, v: r.web_search_options is not None,
    ),
    Unsupported(
        "top_p",
        "{product} has no top_p; omit it or send 1",
        lambda r, v: not v.reasoning and r.top_p is not None and r.top_p != 1,
    ),
    Unsupported(
        "presence_penalty",
        "{product} has no presence_penalty; omit it or send 0",
        lambda r, v: not v.reasoning and bool(r.presence_penalty),
    ),
    Unsupported(
        "frequency_penalty",
        "{product} has no frequency_penalty; omit it or send 0",
        lambda r, v: not v.reasoning and bool(r.frequency_penalty),
    ),
    Unsupported("tool_choice", _CHOICE, lambda r, v: _forced(r.tool_choice)),
    Unsupported("function_call", _CHOICE, lambda r, v: _forced(r.function_call)),
)

#: Accepted and ignored: they do not change what a correct answer is.
IGNORED: Final = (
    "seed",
    "store",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "reasoning_effort",
)


def refuse_unsupported(request: ChatCompletionRequest, version: SparkVersion) -> None:
    for row in UNSUPPORTED:
        if row.applies(request, version):
            raise refuse(row.param, row.why.replace("{product}", version.product))
    if (
        request.max_tokens is not None
        and request.max_completion_tokens is not None
        and (request.max_tokens != request.max_completion_tokens)
    ):
        raise InvalidRequestError(
            "'max_tokens' and 'max_completion_tokens' disagree; send only one",
            param="max_tokens",
        )
    if request.temperature is not None and not 0 <= request.temperature <= 2:
        raise InvalidRequestError(
            f"'temperature' must be between 0 and 2, got {request.temperature}",
            param="temperature",
        )


__all__ = ["IGNORED", "UNSUPPORTED", "Unsupported", "refuse", "refuse_unsupported"]
