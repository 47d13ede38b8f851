"""Request fields Spark cannot honour, as data, in two kinds:

* :data:`REFUSED`: they would change the *shape* of the answer (log probabilities, audio,
  predicted outputs, ...): always a 400 that names the field;
* :data:`IGNORABLE`: hints with no Spark equivalent (``top_p`` and penalties where the model has
  none, ``logit_bias``, ``seed``, ``service_tier``, ...): accepted and ignored by default, named
  in the ``x-asgi-spark-ignored-params`` response header and the log line; a model with
  ``"strict_params": true`` refuses them like the others.

Fields emulated by the gateway's policies (``n``, ``stop``, ``response_format``, forced
``tool_choice``) are taken out of the request before it reaches the adapter; if one
arrives here anyway it is refused.  The README's lists are tested against these tables.
"""

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
    """A request field Spark cannot honour, when ``applies`` (present with a value that would
    need honouring)."""

    param: str
    why: str  # may name ``{product}``
    applies: Callable[[ChatCompletionRequest, SparkVersion], bool]

    def error(self, version: SparkVersion) -> UnsupportedParameterError:
        return refuse(self.param, self.why.replace("{product}", version.product))


def _forced(choice: str | dict[str, Any] | None) -> bool:
    return choice is not None and choice not in ("auto", "none")


def _required_without_tools(request: ChatCompletionRequest) -> bool:
    """``tool_choice: "required"`` and nothing to require (LlamaIndex's ``structured_predict``
    sends it so to a chat model without function calling, then reads the text)."""
    return request.tool_choice == "required" and not request.tools and not request.functions


_NO_LOGPROBS = "Spark does not return token log probabilities"
_EMULATED = "the gateway emulates it before the request reaches Spark"

#: Always refused, in the order they are checked.
REFUSED: Final[tuple[Unsupported, ...]] = (
    Unsupported("logprobs", _NO_LOGPROBS, lambda r, v: bool(r.logprobs)),
    Unsupported("top_logprobs", _NO_LOGPROBS, lambda r, v: bool(r.top_logprobs)),
    Unsupported(
        "modalities",
        "Spark answers with text only",
        lambda r, v: bool(r.modalities) and any(m != "text" for m in r.modalities or ()),
    ),
    Unsupported("audio", "Spark answers with text only", lambda r, v: bool(r.audio)),
    Unsupported("prediction", "Spark has no predicted outputs", lambda r, v: bool(r.prediction)),
    Unsupported(
        "web_search_options",
        "use extra_body={'spark': {'web_search': ...}} for Spark's web search",
        lambda r, v: r.web_search_options is not None,
    ),
    # Emulated by policies (see the module docstring); refused if one reaches the adapter.
    Unsupported("n", _EMULATED, lambda r, v: r.n is not None and r.n != 1),
    Unsupported("stop", _EMULATED, lambda r, v: bool(r.stop)),
    Unsupported(
        "response_format",
        _EMULATED,
        lambda r, v: (r.response_format or {}).get("type", "text") != "text",
    ),
    Unsupported(
        "tool_choice",
        _EMULATED,
        lambda r, v: _forced(r.tool_choice) and not _required_without_tools(r),
    ),
    Unsupported("function_call", _EMULATED, lambda r, v: _forced(r.function_call)),
)

#: Ignored unless the model has ``strict_params``.
IGNORABLE: Final[tuple[Unsupported, ...]] = (
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
    Unsupported("logit_bias", "Spark has no logit bias", lambda r, v: bool(r.logit_bias)),
    Unsupported("seed", "Spark has no sampling seed", lambda r, v: r.seed is not None),
    Unsupported(
        "service_tier", "Spark has no service tiers", lambda r, v: r.service_tier is not None
    ),
    Unsupported(
        "reasoning_effort",
        "Spark has no reasoning effort setting",
        lambda r, v: r.reasoning_effort is not None,
    ),
    Unsupported("store", "the gateway stores no completions", lambda r, v: bool(r.store)),
    Unsupported("metadata", "the gateway stores no completions", lambda r, v: bool(r.metadata)),
    Unsupported(
        "tool_choice",
        '"required" without tools has nothing to require',
        lambda r, v: _required_without_tools(r),
    ),
)

#: Emulated by the gateway's policies before the adapter (see the module docstring).
EMULATED: Final = ("n", "stop", "response_format", "tool_choice", "function_call")

#: Accepted and honoured as far as Spark can: never named as ignored.
ACCEPTED: Final = ("parallel_tool_calls",)


def ignored_params(request: ChatCompletionRequest, version: SparkVersion) -> tuple[str, ...]:
    """The names of the ignorable fields ``request`` sets (for the header and the log)."""
    return tuple(row.param for row in IGNORABLE if row.applies(request, version))


def refuse_unsupported(
    request: ChatCompletionRequest, version: SparkVersion, *, strict: bool = False
) -> None:
    """Raise for the first refused field (and, when ``strict``, ignorable one) ``request`` sets,
    or for values no model accepts."""
    for row in (*REFUSED, *IGNORABLE) if strict else REFUSED:
        if row.applies(request, version):
            raise row.error(version)
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


__all__ = [
    "ACCEPTED",
    "EMULATED",
    "IGNORABLE",
    "REFUSED",
    "Unsupported",
    "ignored_params",
    "refuse",
    "refuse_unsupported",
]
