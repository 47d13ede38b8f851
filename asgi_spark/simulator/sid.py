"""Session ids (``sid``) and the Beijing wall-clock stamp that Spark puts into error messages.

A Spark sid is 32 characters (spec 3.1 and 8.2), e.g. ``cht000b702a@dx18d6fb9d758b894540``::

    cht  000b  702a  @dx  18d6fb9d758  b894  54  0
    tag  pid   count      epoch ms     host  port end

The embedded epoch milliseconds are the same instant as the ``(HH:MM:SS.mmm)`` stamp (Asia/Shanghai,
UTC+8) in the ``<ErrorClass>:(stamp) detail`` message of an error frame, so both are derived from
one ``ms`` value here.  Pure functions, no I/O; the clock is the caller's.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Final

SID_LENGTH: Final = 32
_BEIJING_OFFSET_S: Final = 8 * 3600


class SidGenerator:
    """Make sids for one simulator: unique per process while fewer than 65 536 share one ms.

    ``pid`` defaults to this process id, ``host_tail`` to the last two octets of a made-up host,
    ``port`` to the simulator's port (its first two digits become the port prefix).
    """

    def __init__(
        self, *, pid: int | None = None, host_tail: int = 0xB894, port: int = 5450
    ) -> None:
        self._prefix = f"cht{(os.getpid() if pid is None else pid) & 0xFFFF:04x}"
        self._suffix = f"{host_tail & 0xFFFF:04x}{str(port)[:2]:0>2}0"
        self._counter = itertools.count()

    def __call__(self, ms: int) -> str:
        """A new sid whose embedded time is ``ms`` (Unix epoch milliseconds, 0 ≤ ms < 16**11)."""
        count = next(self._counter) & 0xFFFF
        return f"{self._prefix}{count:04x}@dx{ms & 0xFFFFFFFFFFF:011x}{self._suffix}"


def sid_millis(sid: str) -> int:
    """The Unix epoch milliseconds embedded in a Spark sid; ``ValueError`` if not a sid."""
    if len(sid) != SID_LENGTH or sid[11:14] != "@dx":
        raise ValueError(f"not a Spark sid: {sid!r}")
    return int(sid[14:25], 16)


def beijing_time(ms: int) -> str:
    """``HH:MM:SS.mmm`` in Beijing time (UTC+8, no daylight saving) for epoch milliseconds."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%H:%M:%S", time.gmtime(seconds + _BEIJING_OFFSET_S)) + f".{millis:03d}"
