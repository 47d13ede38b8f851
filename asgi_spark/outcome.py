"""The :class:`Outcome` of one request: one frozen record, built by the writer that answered it.

The access log (:mod:`.observe`) and the metrics (:mod:`.metrics`) read this record and nothing
else, so they cannot disagree.  Times are seconds (``time.monotonic`` differences); ``None``
means "did not happen" (no first byte, no upstream connection, ...).  It never holds a secret,
and holds message content (``messages``, ``answer``) only when the access log was configured
to include it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GatewayError
from .events import Batch
from .pipeline import RequestContext


@dataclass(frozen=True, slots=True)
class Outcome:
    request_id: str
    endpoint: str
    requested_model: str
    answered_by: str | None
    stream: bool
    status: int
    error_type: str | None
    error_code: str | None
    #: The request field an error is about (a refused parameter, a bad field).
    error_param: str | None
    #: The error's message as the client got it (no secret: errors are redacted when made).
    error_message: str | None
    upstream_code: int | None
    timeout_phase: str | None
    finish_reason: str | None
    time_to_first_byte: float | None
    duration: float
    upstream_connect: float | None
    pooled: bool
    frames: int
    prompt_tokens: int | None
    completion_tokens: int | None
    upstream_sid: str | None
    attempts: int
    retries: int
    fallbacks: int
    limit_wait: float
    limit_rejected: bool
    ignored_params: tuple[str, ...]
    client_key: str | None
    #: The client went away before the answer was complete.
    cancelled: bool
    #: Only when the access log includes content: the request's (role, text) and the answer.
    messages: tuple[tuple[str, str], ...] | None = None
    answer: str | None = None


class Tally:
    """What a writer counts while answering; :meth:`outcome` freezes it with the context."""

    __slots__ = (
        "cancelled",
        "error",
        "finish",
        "first_byte",
        "frames",
        "sid",
        "status",
        "stream",
        "text",
        "usage",
    )

    def __init__(self, *, stream: bool) -> None:
        self.stream = stream
        self.status = 0
        self.error: GatewayError | None = None
        self.finish: str | None = None
        self.first_byte: float | None = None
        self.frames = 0
        self.sid: str | None = None
        self.usage: tuple[int, int] | None = None
        self.cancelled = False
        #: The answer's text, kept only when the access log includes content.
        self.text: list[str] | None = None

    def add(self, batch: Batch) -> None:
        self.frames += 1
        if self.text is not None and batch.content:
            self.text.append(batch.content)
        if batch.started is not None:
            self.sid = batch.started or None
        if batch.finish is not None:
            self.finish = batch.finish
        if batch.usage is not None:
            self.usage = (batch.usage.prompt_tokens, batch.usage.completion_tokens)

    def outcome(self, context: RequestContext, now: float) -> Outcome:
        error = self.error
        return Outcome(
            request_id=context.request_id,
            endpoint=context.endpoint,
            requested_model=context.requested_model,
            answered_by=context.answered_by,
            stream=self.stream,
            status=self.status,
            error_type=error.type if error is not None else None,
            error_code=error.code if error is not None else None,
            error_param=error.param if error is not None else None,
            error_message=error.message if error is not None else None,
            upstream_code=error.upstream_code if error is not None else None,
            timeout_phase=getattr(error, "phase", None),
            finish_reason=self.finish,
            time_to_first_byte=(
                self.first_byte - context.started if self.first_byte is not None else None
            ),
            duration=now - context.started,
            upstream_connect=context.upstream_connect,
            pooled=context.pooled,
            frames=self.frames,
            prompt_tokens=self.usage[0] if self.usage else None,
            completion_tokens=self.usage[1] if self.usage else None,
            upstream_sid=self.sid or (error.sid if error is not None else None),
            attempts=context.attempts,
            retries=context.retries,
            fallbacks=context.fallbacks,
            limit_wait=context.limit_wait,
            limit_rejected=context.limit_rejected,
            ignored_params=context.ignored_params,
            client_key=context.client_key,
            cancelled=self.cancelled,
            messages=context.messages,
            answer="".join(self.text) if self.text is not None else None,
        )


__all__ = ["Outcome", "Tally"]
