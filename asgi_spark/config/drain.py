"""The ``drain`` block: how a gateway that is asked to stop (SIGTERM, or
:meth:`~asgi_spark.gateway.Gateway.drain`) lets its requests end.

``{"drain": {"delay": 0, "timeout": 30}}``, both in seconds:

* ``delay``: from the signal on, ``/readyz`` answers 503 while the server still takes new
  connections and requests, so a load balancer has time to take the instance out of rotation;
* ``timeout``: then the server stops listening and the requests in flight have this long to
  finish; those still running are ended with an error event (a stream) or a 503 (an answer not
  yet sent), and their upstream connections closed.

``asgi-spark serve --drain-delay/--drain-timeout`` override the file's values.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from msgspec import Meta

DEFAULT_DRAIN_DELAY: Final = 0.0
DEFAULT_DRAIN_TIMEOUT: Final = 30.0


class DrainSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """How a stopping gateway drains (seconds)."""

    delay: Annotated[
        float,
        Meta(
            ge=0,
            description="seconds /readyz answers 503 while new requests are still served, "
            "before the server stops listening",
        ),
    ] = DEFAULT_DRAIN_DELAY
    timeout: Annotated[
        float,
        Meta(
            ge=0,
            description="seconds requests in flight may take to finish once the server stops "
            "listening; then they are ended with an error",
        ),
    ] = DEFAULT_DRAIN_TIMEOUT


__all__ = ["DEFAULT_DRAIN_DELAY", "DEFAULT_DRAIN_TIMEOUT", "DrainSettings"]
