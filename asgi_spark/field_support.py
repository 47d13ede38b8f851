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
    "tool_choice": ("emulated", "`required` or a named function: offered alone, asked, checked"),
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


def render(fields: dict[str, Row]) -> str:
    """A Markdown table of ``fields``."""
    lines = ["| field | what the gateway does | how |", "|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {how} |" for name, (kind, how) in fields.items()]
    return "\n".join(lines)


__all__ = ["CHAT_FIELDS", "render"]
