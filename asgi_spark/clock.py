"""The one clock type: wall-clock seconds since the epoch, injectable so tests can move time.

Signing (``date`` within ±300 s), the simulator's handshake check and its sids take a
:data:`Clock`; ``time.time`` is the default everywhere.  Durations use ``time.monotonic``.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]

__all__ = ["Clock"]
