"""What a client sees when Spark fails: every simulator fault, the handshake refusals and the
raw cases, streaming and not, asserted end to end (the app in-process, the simulator on
loopback), with no upstream socket left open.  The README's table is rendered from
:data:`TABLE` and must equal it: after changing a row, paste ``render()``'s output there."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from asgi_spark import create_app
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.openapi import validate
from tests.seams.fakes import Response, request

README = Path(__file__).resolve().parent.parent / "README.md"
QUICK = {"connect": 0.2, "first_frame": 0.2, "idle": 0.2}


@dataclass(frozen=True)
class Row:
    case: str
    faults: Faults | None  # None: the upstream is unreachable
    plain: str  # what a non-streaming client sees
    stream: str  # what a streaming client sees
    entry: dict[str, Any] = field(default_factory=dict)


def _err(status: int, code: str | None) -> str:
    return f"{status} `{code}`" if code else f"{status} (code `null`)"


def _late(code: str) -> str:
    return f"200, content, then an error event `{code}`, no `[DONE]`"


TABLE: tuple[Row, ...] = (
    Row("a normal answer", Faults(), "200, finish `stop`", "200, finish `stop`, `[DONE]`"),
    Row("Spark 10003 (message format)", Faults(error_code=10003), _err(400, None), _err(400, None)),
    Row(
        "Spark 10907 (too many tokens)",
        Faults(error_code=10907),
        _err(400, "context_length_exceeded"),
        _err(400, "context_length_exceeded"),
    ),
    Row(
        "Spark 10013 (input moderation)",
        Faults(error_code=10013),
        _err(400, "content_filter"),
        _err(400, "content_filter"),
    ),
    Row(
        "Spark 10014 before any content",
        Faults(error_code=10014),
        _err(400, "content_filter"),
        _err(400, "content_filter"),
    ),
    Row(
        "Spark 10014 after content (output moderation)",
        Faults(error_code=10014, error_after=2),
        "200, finish `content_filter`",
        "200, content, finish `content_filter`, `[DONE]`",
    ),
    Row(
        "Spark 11202 (QPS over the grant)",
        Faults(error_code=11202),
        _err(429, "rate_limit_exceeded"),
        _err(429, "rate_limit_exceeded"),
    ),
    Row(
        "Spark 11202 after content",
        Faults(error_code=11202, error_after=2),
        _err(429, "rate_limit_exceeded"),
        _late("rate_limit_exceeded"),
    ),
    Row(
        "Spark 11200 `tokens.total` (quota)",
        Faults(error_code=11200),
        _err(429, "insufficient_quota"),
        _err(429, "insufficient_quota"),
    ),
    Row(
        "Spark 10110 (busy)",
        Faults(error_code=10110),
        _err(503, "upstream_unavailable"),
        _err(503, "upstream_unavailable"),
    ),
    Row(
        "Spark 10114 (session timeout)",
        Faults(error_code=10114),
        _err(504, "upstream_timeout"),
        _err(504, "upstream_timeout"),
    ),
    Row(
        "connection dropped before any frame",
        Faults(close_after=0),
        _err(502, "upstream_closed"),
        _err(502, "upstream_closed"),
    ),
    Row(
        "connection dropped mid-answer",
        Faults(close_after=2),
        _err(502, "upstream_closed"),
        _late("upstream_closed"),
    ),
    Row(
        "a frame that is not JSON",
        Faults(malformed_after=0),
        _err(502, "upstream_protocol_error"),
        _err(502, "upstream_protocol_error"),
    ),
    Row(
        "a frame that is not JSON, mid-answer",
        Faults(malformed_after=2),
        _err(502, "upstream_protocol_error"),
        _late("upstream_protocol_error"),
    ),
    Row(
        "no first frame within `first_frame`",
        Faults(first_frame_delay=5),
        _err(504, "upstream_timeout"),
        _err(504, "upstream_timeout"),
        {"timeouts": QUICK},
    ),
    Row(
        "silence mid-answer longer than `idle`",
        Faults(hang_after=2),
        _err(504, "upstream_timeout"),
        _late("upstream_timeout"),
        {"timeouts": QUICK},
    ),
    Row(
        "handshake slower than `connect`",
        Faults(handshake_delay=5),
        _err(504, "upstream_timeout"),
        _err(504, "upstream_timeout"),
        {"timeouts": QUICK},
    ),
    *(
        Row(
            f"handshake refused with HTTP {status}",
            Faults(handshake_status=status),
            _err(code_status, code),
            _err(code_status, code),
        )
        for status, code_status, code in (
            (401, 502, "upstream_auth_failed"),
            (403, 502, "upstream_auth_failed"),
            (404, 502, "upstream_error"),
            (429, 429, "rate_limit_exceeded"),
            (500, 503, "upstream_unavailable"),
            (503, 503, "upstream_unavailable"),
        )
    ),
    Row(
        "upstream unreachable (connection refused)",
        None,
        _err(503, "upstream_unavailable"),
        _err(503, "upstream_unavailable"),
    ),
)


def render() -> str:
    lines = ["| upstream | non-streaming | streaming |", "|---|---|---|"]
    lines += [f"| {row.case} | {row.plain} | {row.stream} |" for row in TABLE]
    return "\n".join(lines)


def test_the_readme_has_the_table() -> None:
    assert render() in README.read_text("utf-8"), "paste tests/test_failure_table.render()"


def _seen(r: Response, stream: bool) -> str:
    if r.status != 200:
        error = r.json()
        validate("ErrorResponse", error)
        return _err(r.status, error["error"]["code"])
    if not stream:
        body = r.json()
        validate("CreateChatCompletionResponse", body)
        return f"200, finish `{body['choices'][0]['finish_reason']}`"
    events = [e.removeprefix("data: ") for e in r.body.decode().strip().split("\n\n")]
    done = events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    if "error" in chunks[-1]:
        assert not done
        assert any(c.get("choices") and c["choices"][0]["delta"].get("content") for c in chunks)
        return _late(chunks[-1]["error"]["code"])
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    finish = chunks[-1]["choices"][0]["finish_reason"]
    content = ", content" if finish == "content_filter" else ""
    return f"200{content}, finish `{finish}`, `[DONE]`" if done else "no [DONE]"


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("row", TABLE, ids=[re.sub(r"\W+", "-", r.case) for r in TABLE])
async def test_row(sim: SparkSimulator, row: Row, stream: bool) -> None:
    url = sim.url if row.faults is not None else f"ws://127.0.0.1:{_closed_port()}"
    sim.faults = row.faults or Faults()
    gateway = create_app([spark_entry("m", url, **row.entry)])
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    async with gateway.lifespan():
        r = await request(gateway, "POST", "/v1/chat/completions", body)
    assert _seen(r, stream) == (row.stream if stream else row.plain)
    await asyncio.wait_for(sim.wait_closed_all(), 5)  # no upstream socket stays open


if __name__ == "__main__":
    print(render())
