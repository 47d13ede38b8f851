"""A real Redis server for the shared-limits tests: the one ``.ci/run`` started
(``ASGI_SPARK_TEST_REDIS_URL``), else one started here from ``redis-server`` on a free loopback
port.  Without either the tests are skipped, except under CI (``CI`` set), where that fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.ops.process import free_port

ENV = "ASGI_SPARK_TEST_REDIS_URL"


def prefix() -> str:
    """A key prefix of its own for one test: runs sharing a server cannot meet."""
    return f"t-{uuid.uuid4().hex[:12]}"


@contextmanager
def redis_server() -> Iterator[str]:
    """The URL of a Redis server for the whole session."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"no redis-server on PATH and no {ENV}: .ci/run installs and starts one")
        pytest.skip("no redis-server on PATH (apt-get install redis-server) and no " + ENV)
    with tempfile.TemporaryDirectory() as workdir, started(exe, free_port(), workdir) as url:
        yield url


@contextmanager
def started(exe: str, port: int, workdir: str) -> Iterator[str]:
    args = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", workdir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()  # it exited

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(30) or proc.poll() is not None:
            pytest.fail("redis-server did not start:\n" + "".join(lines))
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
