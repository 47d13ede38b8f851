"""``asgi-spark`` as a subprocess whose output lines a test can wait for (no sleeps)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from tests.e2e.server import listening_socket

EXE = os.path.join(os.path.dirname(sys.executable), "asgi-spark")


def free_port() -> int:
    sock = listening_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class Process:
    """A running ``asgi-spark`` command; stdout and stderr as one list of lines."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [EXE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._done = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def count(self, pattern: str) -> int:
        with self._changed:
            return sum(bool(re.search(pattern, line)) for line in self.lines)

    def wait_for(self, pattern: str, times: int = 1, timeout: float = 60) -> list[str]:
        """Wait until ``times`` lines match ``pattern`` (a regex); the matching lines."""
        found: list[str] = []

        def ready() -> bool:
            found[:] = [line for line in self.lines if re.search(pattern, line)]
            return len(found) >= times or self._done

        with self._changed:
            self._changed.wait_for(ready, timeout)
        assert len(found) >= times, f"{pattern!r} x{times} not seen in:\n" + "\n".join(self.lines)
        return found

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        """Wait for a new output line until ``predicate()`` holds."""
        with self._changed:
            assert self._changed.wait_for(lambda: predicate() or self._done, timeout)
        assert predicate(), "\n".join(self.lines)

    def signal(self, signum: int = signal.SIGHUP) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
