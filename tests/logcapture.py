"""Capturing log lines from servers running on other threads, and waiting for them.

A server writes its access log line after the response is sent, so a test that has its answer
may not have the line yet: :meth:`LogCapture.wait_for` waits on a condition (never a sleep).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_plain(line: str) -> dict[str, Any]:
    """An access log line in the plain format, as a dict (JSON values decoded)."""
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(line):
        if raw.startswith('"'):
            fields[key] = json.loads(raw)
        elif raw in ("true", "false"):
            fields[key] = raw == "true"
        else:
            try:
                fields[key] = json.loads(raw)
            except ValueError:
                fields[key] = raw
    return fields


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.lines.append(record.getMessage())
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10) -> str:
        """The first line (old or new) for which ``predicate`` is true."""
        found: list[str] = []

        def ready() -> bool:
            found[:] = [line for line in self.lines if predicate(line)]
            return bool(found)

        with self._changed:
            assert self._changed.wait_for(ready, timeout), f"no such line in {self.lines}"
        return found[0]


@contextmanager
def capture(name: str, level: int = logging.INFO) -> Iterator[LogCapture]:
    logger = logging.getLogger(name)
    handler = LogCapture()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
