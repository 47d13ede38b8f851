"""The :class:`Outcome` of one request: one frozen record, built by the writer that answered it.

The access log line today, and Server-Timing, metrics and budgets later, read this record and
nothing else, so they cannot disagree.  Times are seconds (``time.monotonic`` differences);
``None`` means "did not happen" (no first byte, no upstream connection, ...).  It never holds a
secret or message content: ``client_key`` is the *name* of the client's key.
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
    limit_wait: float
    limit_rejected: bool
    ignored_params: tuple[str, ...]
    client_key: str | None
    #: The client went away before the answer was complete.
    cancelled: bool

    def summary(self) -> str:
        """One line for the log: what was asked, what happened, how long it took."""
        if self.cancelled:
            result = "cancelled (client went away)"
        elif self.error_code is not None or self.error_type is not None:
            result = f"error {self.status} {self.error_code or self.error_type}"
        else:
            result = f"{self.status} finish={self.finish_reason}"
        ttfb = (
            f" ttfb={self.time_to_first_byte * 1000:.1f}ms"
            if self.time_to_first_byte is not None
            else ""
        )
        key = f" key={self.client_key}" if self.client_key is not None else ""
        return (
            f"{self.endpoint} model={self.requested_model} stream={self.stream}{key} {result} "
            f"sid={self.upstream_sid or '-'} attempts={self.attempts} frames={self.frames}"
            f"{ttfb} duration={self.duration * 1000:.1f}ms"
        )


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

    def add(self, batch: Batch) -> None:
        self.frames += 1
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
            upstream_sid=self.sid,
            attempts=context.attempts,
            limit_wait=context.limit_wait,
            limit_rejected=context.limit_rejected,
            ignored_params=context.ignored_params,
            client_key=context.client_key,
            cancelled=self.cancelled,
        )


__all__ = ["Outcome", "Tally"]
