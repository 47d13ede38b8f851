"""Two ``asgi-spark serve`` processes sharing one Redis enforce one limit together: the
simulator (in this process) counts the requests it answers at once.  With the limits kept per
process, these tests fail: each process would admit its own ``max_concurrency``."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry
from tests.limits.redis_server import prefix
from tests.ops.process import Process, free_port

READY = "Uvicorn running on"


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


class Gateways:
    """``asgi-spark serve`` processes on one configuration; their base URLs."""

    def __init__(self, config: dict[str, Any], path: Path, redis_url: str) -> None:
        path.write_text(json.dumps(config))
        self.path, self.redis_url = path, redis_url
        self.processes: list[Process] = []
        self.urls: list[str] = []

    async def start(self, count: int) -> None:
        for _ in range(count):
            port = free_port()
            process = Process(
                "serve", "--config", str(self.path), "--port", str(port), "--no-metrics",
                env={"REDIS_URL": self.redis_url},
            )  # fmt: skip
            self.processes.append(process)
            self.urls.append(f"http://127.0.0.1:{port}")
        for process in self.processes:
            await asyncio.to_thread(process.wait_for, READY)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def gateways(tmp_path: Path, redis_url: str) -> Iterator[Any]:
    numbers = count()
    with ExitStack() as stack:

        def make(config: dict[str, Any]) -> Gateways:
            path = tmp_path / f"config-{next(numbers)}.json"
            made = Gateways(config, path, redis_url)
            stack.callback(made.stop)
            return made

        yield make


def config(sim: SparkSimulator, *entries: dict[str, Any], lease: float = 30) -> dict[str, Any]:
    return {
        "models": list(entries),
        "limits": {
            "backend": "redis",
            "url": "ENV:REDIS_URL",
            "lease_seconds": lease,
            "key_prefix": prefix(),
        },
    }


def body(model: str = "m") -> dict[str, Any]:
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def stream(client: httpx.AsyncClient, url: str, model: str = "m") -> tuple[int, str, str]:
    """A streamed chat read to its end: the status, ``Retry-After`` and the body."""
    async with client.stream("POST", url + "/v1/chat/completions", json=body(model)) as r:
        text = (await r.aread()).decode()
        return r.status_code, r.headers.get("retry-after", ""), text


async def test_two_processes_never_hold_more_than_max_concurrency(
    sim: SparkSimulator, gateways: Any
) -> None:
    sim.faults = Faults(first_frame_delay=1.0)  # every admitted answer holds its slot 1 s
    served = gateways(config(sim, spark_entry("m", sim.url, max_concurrency=2, queue_timeout=0)))
    await served.start(2)
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(*(stream(client, served.urls[i % 2]) for i in range(8)))
    statuses = sorted(status for status, _wait, _text in answers)
    assert statuses == [200, 200] + [429] * 6
    assert sim.peak_answering == 2  # counted at the upstream, across both processes
    for status, wait, text in answers:
        if status == 429:
            assert wait == "1"
            assert "all 2 concurrent upstream sessions of 'm' are busy" in text
        else:
            assert text.rstrip().endswith("data: [DONE]")


async def test_a_killed_process_slots_come_back_after_the_lease(
    sim: SparkSimulator, gateways: Any
) -> None:
    sim.faults = Faults(hang_after=1)  # answers that stay open until the client leaves
    served = gateways(
        config(
            sim,
            spark_entry("m", sim.url, limit_group="app", max_concurrency=2, queue_timeout=0),
            spark_entry("w", sim.url, limit_group="app", max_concurrency=2, queue_timeout=10),
            lease=1.0,
        )
    )
    await served.start(2)
    doomed, survivor = served.processes[0], served.urls[1]
    async with httpx.AsyncClient(timeout=30) as client:
        held = []
        for _ in range(2):  # two streams through the first process, each past its first chunk
            response = await client.send(
                client.build_request("POST", served.urls[0] + "/v1/chat/completions", json=body()),
                stream=True,
            )
            assert response.status_code == 200
            lines = response.aiter_lines()  # kept: a dropped iterator would close the stream
            await anext(lines)
            held.append((response, lines))
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait()
        status, wait, _text = await stream(client, survivor)
        assert (status, wait) == (429, "1")  # the dead process's slots are still taken
        sim.faults = Faults()
        loop = asyncio.get_running_loop()
        began = loop.time()
        status, _wait, text = await stream(client, survivor, "w")  # waits up to 10 s
        assert status == 200 and text.rstrip().endswith("data: [DONE]")
        assert loop.time() - began <= 5  # the lease (1 s) ran out, not the queue_timeout
        for response, _lines in held:
            await response.aclose()
