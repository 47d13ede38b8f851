"""What the gateway does with every request field, as data: the README's field tables are
rendered from these tables and a test checks them against the request types, so a field cannot
be added without saying what happens to it.

Treatments: ``native`` (Spark has it; mapped), ``emulated`` (the gateway does it around Spark),
``ignored`` (accepted, named in ``x-asgi-spark-ignored-params``; refused with
``strict_params``), ``refused`` (a 400 naming the field), ``gateway`` (the gateway's own
business, e.g. streaming).
"""

from __future__ import annotations

from typing import Final

Row = tuple[str, str]  # (treatment, how)

CHAT_FIELDS: Final[dict[str, Row]] = {
    "model": ("gateway", "the configured model id; routes to its Spark version"),
    "messages": (
        "native",
        "one leading system kept, roles merged, tool turns as text, images on the image model",
    ),
    "stream": ("gateway", "SSE chunks, one per Spark frame"),
    "stream_options": ("gateway", "`include_usage`: a last chunk with Spark's usage"),
    "temperature": ("native", "halved into Spark's (0, 1]"),
    "top_p": ("native", "on X1; elsewhere ignored"),
    "max_tokens": ("native", "clamped to the version's range"),
    "max_completion_tokens": ("native", "as `max_tokens`"),
    "n": ("emulated", "n concurrent sessions, choices interleaved, usage summed"),
    "user": ("native", "Spark's `uid` (hashed past 32 characters)"),
    "tools": ("native", "Spark functions"),
    "tool_choice": (
        "emulated",
        "`required` or a named function: offered alone, asked, checked; `required` without "
        "tools is ignored (a 400 with `strict_params`)",
    ),
    "functions": ("native", "legacy form of `tools`"),
    "function_call": ("emulated", "legacy form of a named `tool_choice`"),
    "parallel_tool_calls": ("native", "accepted; Spark calls one function at a time"),
    "logprobs": ("refused", "Spark returns no log probabilities"),
    "top_logprobs": ("refused", "Spark returns no log probabilities"),
    "presence_penalty": ("native", "on X1; elsewhere ignored"),
    "frequency_penalty": ("native", "on X1; elsewhere ignored"),
    "stop": ("emulated", "content cut at the first stop sequence, upstream closed"),
    "seed": ("ignored", "Spark has no sampling seed"),
    "response_format": ("emulated", "JSON via a function to call or an instruction, validated"),
    "logit_bias": ("ignored", "Spark has no logit bias"),
    "modalities": ("refused", 'text only (`["text"]` passes)'),
    "audio": ("refused", "text only"),
    "prediction": ("refused", "Spark has no predicted outputs"),
    "reasoning_effort": ("ignored", "Spark has no such setting"),
    "service_tier": ("ignored", "Spark has no service tiers"),
    "store": ("ignored", "the gateway stores no chat completions"),
    "metadata": ("ignored", "the gateway stores no chat completions"),
    "spark": ("native", "Spark's own `top_k`, `chat_id`, `web_search`"),
    "web_search_options": ("refused", "use `spark.web_search`"),
}

#: The Responses API (``POST /v1/responses``), translated into a chat request
#: (:mod:`.responses_request`); "native" and "emulated" are then as for Chat Completions.
RESPONSES_FIELDS: Final[dict[str, Row]] = {
    "model": ("gateway", "the configured model id"),
    "input": (
        "native",
        "text, or `message`, `function_call` and `function_call_output` items as chat messages; "
        "`input_image` parts as Chat's image parts; `reasoning` items dropped; other items refused",
    ),
    "instructions": ("native", "a system message in front; not carried to the next response"),
    "tools": ("native", "function tools as Spark functions; built-in tool types refused"),
    "tool_choice": ("emulated", "as Chat's `tool_choice`"),
    "parallel_tool_calls": ("native", "accepted; Spark calls one function at a time"),
    "text": ("emulated", "`format` as Chat's `response_format`; `verbosity` ignored"),
    "max_output_tokens": ("native", "as `max_completion_tokens`"),
    "temperature": ("native", "halved into Spark's (0, 1]"),
    "top_p": ("native", "on X1; elsewhere ignored"),
    "user": ("native", "Spark's `uid`"),
    "safety_identifier": ("native", "Spark's `uid` when `user` is not given"),
    "stream": ("gateway", "the documented event sequence, without `[DONE]`"),
    "stream_options": ("gateway", "`include_obfuscation`: nothing is padded"),
    "store": ("gateway", "default true: kept in memory for `previous_response_id` and GET"),
    "previous_response_id": ("gateway", "the stored conversation, for the same client key"),
    "metadata": ("gateway", "echoed in the response"),
    "truncation": ("ignored", "`auto` is ignored: a too long conversation is a 400"),
    "reasoning": ("ignored", "`effort` and `summary`; X1 reasons by itself"),
    "include": ("ignored", "nothing to include; `message.output_text.logprobs` is refused"),
    "service_tier": ("ignored", "Spark has no service tiers"),
    "prompt_cache_key": ("ignored", "Spark has no prompt cache"),
    "prompt_cache_retention": ("ignored", "Spark has no prompt cache"),
    "max_tool_calls": ("ignored", "it bounds built-in tools, which are refused"),
    "top_logprobs": ("refused", "Spark returns no log probabilities (0 passes)"),
    "background": ("refused", "answers are given in the foreground (false passes)"),
    "conversation": ("refused", "no Conversations API; use `previous_response_id`"),
    "prompt": ("refused", "no stored prompt templates"),
    "spark": ("native", "Spark's own `top_k`, `chat_id`, `web_search`, as in Chat"),
}

#: Legacy Completions (``POST /v1/completions``): the prompt is one user turn of a chat request
#: (:mod:`.legacy_completions`).
COMPLETIONS_FIELDS: Final[dict[str, Row]] = {
    "model": ("gateway", "the configured model id"),
    "prompt": ("native", "one user turn (a string, or a list of one); token arrays refused"),
    "max_tokens": ("native", "clamped to the version's range; left out: its default, not 16"),
    "stop": ("emulated", "as in Chat Completions"),
    "temperature": ("native", "halved into Spark's (0, 1]"),
    "top_p": ("native", "on X1; elsewhere ignored"),
    "n": ("emulated", "as in Chat Completions"),
    "user": ("native", "Spark's `uid`"),
    "presence_penalty": ("native", "on X1; elsewhere ignored"),
    "frequency_penalty": ("native", "on X1; elsewhere ignored"),
    "seed": ("ignored", "Spark has no sampling seed"),
    "logit_bias": ("ignored", "Spark has no logit bias"),
    "stream": ("gateway", "`text_completion` chunks, then `[DONE]`"),
    "stream_options": ("gateway", "`include_usage`: a last chunk with Spark's usage"),
    "echo": ("refused", "`true` (`false` passes)"),
    "suffix": ("refused", "Spark cannot insert text"),
    "best_of": ("refused", "above 1 (use `n`)"),
    "logprobs": ("refused", "Spark returns no log probabilities"),
    "spark": ("native", "Spark's own options, as in Chat"),
}


def render(fields: dict[str, Row]) -> str:
    """A Markdown table of ``fields``."""
    lines = ["| field | what the gateway does | how |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {how} |" for name, (kind, how) in fields.items()]
    return "\n".join(lines)


__all__ = ["CHAT_FIELDS", "COMPLETIONS_FIELDS", "RESPONSES_FIELDS", "render"]
