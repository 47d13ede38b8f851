"""Readiness: why a running gateway should get no new traffic now.

``/readyz`` answers 200 when the list of reasons is empty and 503 with the list otherwise.  The
reasons come from the gateway's own state (it is draining, :mod:`.drain`) and from its runtime
(:meth:`~asgi_spark.runtime.Runtime.not_ready`: a shared resource it depends on is down), all
gathered by :meth:`~asgi_spark.gateway.Gateway.not_ready`; a new reason is one more
:class:`NotReady` returned from one of those two places.

A gateway that cannot run at all (closed, or its configuration failed to start) is not a reason
in this list: ``/readyz`` answers it with the 503 error every endpoint gives then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .limits import LimitStatus


@dataclass(frozen=True, slots=True)
class NotReady:
    """One reason not to send this gateway traffic."""

    #: A stable name for machines (``draining``).
    code: str
    #: What a person reading ``/readyz`` or the log needs to know.
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def readiness(
    models: int, reasons: Sequence[NotReady], **shown: object
) -> tuple[int, dict[str, Any]]:
    """``/readyz``'s status and body: ``{"status": "ready", "models": N, **shown}``, or 503 and
    ``{"status": "not_ready", "models": N, **shown, "reasons": [{"code", "message"}, ...]}``."""
    if not reasons:
        return 200, {"status": "ready", "models": models, **shown}
    listed = [reason.as_json() for reason in reasons]
    return 503, {"status": "not_ready", "models": models, **shown, "reasons": listed}


def shown(limits: LimitStatus) -> dict[str, object]:
    """Where the limits are kept, as ``/readyz`` shows it."""
    body: dict[str, object] = {"backend": limits.backend, "available": limits.available}
    if limits.on_unavailable is not None:
        body["on_unavailable"] = limits.on_unavailable
    return body


__all__ = ["NotReady", "readiness", "shown"]
