"""New request ids (asgi_spark/request_id.py): 32 lower-case hex digits, unique, and not shared
with a forked child."""

from __future__ import annotations

import os
import re

import pytest

from asgi_spark import request_id
from asgi_spark.pipeline import RequestContext


def test_new_ids_are_32_hex_digits_and_unique() -> None:
    ids = [request_id.new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_request_context_gets_a_new_id() -> None:
    a = RequestContext(endpoint="chat.completions", requested_model="m")
    b = RequestContext(endpoint="chat.completions", requested_model="m")
    assert a.request_id != b.request_id
    assert re.fullmatch(r"[0-9a-f]{32}", a.request_id)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_draws_its_own_prefix() -> None:
    parent = request_id.new_request_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next id and leave at once
        try:
            os.write(write, request_id.new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child[:16] != parent[:16]
