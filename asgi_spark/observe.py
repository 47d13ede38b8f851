"""Observers of finished requests, and the access log, the first of them.

An **observer** is a callable that receives the :class:`~asgi_spark.outcome.Outcome` of every
request once it has ended (:attr:`asgi_spark.gateway.Gateway.observers`); the metrics
(:mod:`.metrics`) are one.  Observers run after the response is complete, must be quick and
must not raise (an observer that does is logged and skipped).

:class:`AccessLog` writes one line per request on the ``asgi_spark.access`` logger (level
INFO), in one of two formats chosen by the configuration's ``access_log`` block:

* ``plain``: ``key=value`` pairs separated by spaces; a value with a space, a quote or an
  equals sign, or that is empty, is written as a JSON string;
* ``json``: one JSON object per line, the same keys.

Keys, in this order (those without a value are left out): ``request_id``, ``endpoint``,
``model`` (as requested), ``answered_by`` (when a fallback answered), ``status``, ``stream``,
``finish``, ``ttft_ms`` (time to the first token), ``duration_ms``, ``prompt_tokens``,
``completion_tokens``, ``sid`` (Spark's session id), ``attempts``, ``retries``, ``fallbacks``,
``limit_wait_ms``, ``limit_rejected``, ``ignored`` (ignored request parameters, comma
separated), ``error`` (the error's code, else its type), ``param`` (the refused or bad
parameter), ``upstream_code`` (Spark's code), ``phase`` (a timeout's phase), ``message`` (the
error's message), ``cancelled`` (the client went away), and with ``include_content`` only,
``messages`` and ``answer``.  No line ever holds a secret.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from .config.schema import AccessLogSettings
from .openai_types import ChatCompletionRequest
from .outcome import Outcome

#: The access log's logger.  ``asgi-spark serve`` writes it to standard output, message only.
ACCESS_LOGGER: Final = "asgi_spark.access"

Observer = Callable[[Outcome], None]

_BARE: Final = re.compile(r'[^\s"=]+')


def access_fields(outcome: Outcome, *, include_content: bool = False) -> dict[str, Any]:
    """The access log's keys and values for ``outcome`` (``None`` values left out)."""
    o = outcome
    error = None
    if o.error_code is not None or o.error_type is not None:
        error = o.error_code or o.error_type
    fields: dict[str, Any] = {
        "request_id": o.request_id,
        "endpoint": o.endpoint,
        "model": o.requested_model or None,
        "key": o.client_key,  # the name of the client's key, never the key
        "answered_by": o.answered_by if o.answered_by != o.requested_model else None,
        "status": o.status,
        "stream": o.stream,
        "finish": o.finish_reason,
        "ttft_ms": _ms(o.time_to_first_byte),
        "duration_ms": _ms(o.duration),
        "prompt_tokens": o.prompt_tokens,
        "completion_tokens": o.completion_tokens,
        "sid": o.upstream_sid,
        "attempts": o.attempts,
        "retries": o.retries or None,
        "fallbacks": o.fallbacks or None,
        "limit_wait_ms": _ms(o.limit_wait) if o.limit_wait else None,
        "limit_rejected": o.limit_rejected or None,
        "ignored": ",".join(o.ignored_params) or None,
        "error": error,
        "param": o.error_param,
        "upstream_code": o.upstream_code,
        "phase": o.timeout_phase,
        "message": o.error_message,
        "cancelled": o.cancelled or None,
    }
    if include_content:
        fields["messages"] = [list(pair) for pair in o.messages] if o.messages else None
        fields["answer"] = o.answer
    return {key: value for key, value in fields.items() if value is not None}


def format_plain(fields: dict[str, Any]) -> str:
    """``key=value`` pairs; values that are not a plain word are JSON."""
    parts = []
    for key, value in fields.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = str(value)
        elif isinstance(value, str) and _BARE.fullmatch(value):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def format_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class AccessLog:
    """Writes one line per outcome.  ``format`` (``"plain"`` or ``"json"``), when given, wins
    over the configuration's (``asgi-spark serve --access-log-format``)."""

    def __init__(self, *, format: str | None = None, logger: logging.Logger | None = None) -> None:
        if format not in (None, "plain", "json"):
            raise ValueError(f"unknown access log format {format!r}; use plain or json")
        self.format = format
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    def __call__(self, outcome: Outcome, settings: AccessLogSettings | None = None) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        settings = settings or AccessLogSettings()
        fields = access_fields(outcome, include_content=settings.include_content)
        chosen = self.format or settings.format
        line = format_json(fields) if chosen == "json" else format_plain(fields)
        self.logger.info("%s", line)


def notify(outcome: Outcome, observers: Iterable[Observer]) -> None:
    """Give ``outcome`` to each observer; one that raises is logged, never the request's
    problem."""
    for observer in observers:
        try:
            observer(outcome)
        except Exception:
            logging.getLogger("asgi_spark").exception("an observer of request outcomes failed")


def message_texts(request: ChatCompletionRequest) -> tuple[tuple[str, str], ...]:
    """The request's messages as (role, text), for an access log that includes content."""
    return tuple((message.role, message.text) for message in request.messages)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


__all__ = [
    "ACCESS_LOGGER",
    "AccessLog",
    "Observer",
    "access_fields",
    "format_json",
    "format_plain",
    "message_texts",
    "notify",
]
