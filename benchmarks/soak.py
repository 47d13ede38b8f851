"""Soak: many concurrent streams with client aborts for a set time; then count what leaked.

Starts one server process (``python benchmarks/soak.py --serve``): the Spark simulator and the
gateway (mounted in a Starlette app, as a platform team would) on one event loop, plus a
``/soak/state`` route reporting the process's asyncio tasks, the simulator's open upstream
connections and the RSS.  The load side then keeps ``--streams`` streaming requests in flight
for ``--seconds``; ``--abort`` of them (10 % by default) are dropped by the client after the
first chunk.  At the end it waits for the server to settle and prints completed, failed,
aborted, the tasks and upstream sockets left open, and the RSS at start and end.

Run:  python benchmarks/soak.py [--streams 1000] [--seconds 60] [--abort 0.1]

Everything stays on 127.0.0.1 and stops by itself.  Record the output in
``benchmarks/RESULTS.md`` with the date, machine and versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

APP_ID, KEY, SECRET = "soak-app", "soak-key", "soak-secret"
QUESTION = "请用三句话介绍一下合肥 [spark:chunks=20,frame_delay=0.05]"  # about 1 s per answer


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def serve(port: int) -> None:
    """The server process: simulator + gateway + the state route, until killed."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from asgi_spark import create_app
    from asgi_spark.simulator import SparkSimulator

    async with SparkSimulator(
        app_id=APP_ID, api_key=KEY, api_secret=SECRET, record_requests=False
    ) as sim:
        entry = {
            "id": "spark-max",
            "adapter": "websocket_xunfei",
            "base_url": sim.url,
            "api_key": KEY,
            "config": {"app_id": APP_ID, "api_secret": SECRET, "api_version": "v3.5"},
        }
        gateway = create_app([entry])

        async def state(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "tasks": len(asyncio.all_tasks()),
                    "upstream_connections": sim.open_connections,
                    "rss_kib": _rss_kib(),
                }
            )

        app = Starlette(routes=[Route("/soak/state", state), Mount("/", gateway)])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
        async with gateway.lifespan():
            await uvicorn.Server(config).serve()


class Counts:
    def __init__(self) -> None:
        self.completed = 0
        self.failed = 0
        self.aborted = 0
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.failed += 1
        self.errors[what] = self.errors.get(what, 0) + 1


async def one_stream(client: httpx.AsyncClient, counts: Counts, abort: bool) -> None:
    body = {
        "model": "spark-max",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    phase = "before the response"
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            phase = "while streaming"
            if response.status_code != 200:
                counts.error(f"HTTP {response.status_code}")
                return
            done = False
            async for line in response.aiter_lines():
                if abort:
                    counts.aborted += 1
                    return  # leaving the block closes the connection mid-stream
                if line == "data: [DONE]":
                    done = True
            if done:
                counts.completed += 1
            else:
                counts.error("stream ended without [DONE]")
    except httpx.HTTPError as exc:
        counts.error(f"{type(exc).__name__} {phase}")


async def load(base_url: str, streams: int, seconds: float, abort_ratio: float) -> Counts:
    counts = Counts()
    # A new connection per request: reusing kept-alive connections races with the server
    # closing the ones whose streams were aborted (httpx then reports a ReadError before the
    # response; the same happens against a bare Starlette app, so it is not the gateway's).
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=0)
    timeout = httpx.Timeout(60.0)
    end = time.monotonic() + seconds
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            while time.monotonic() < end:
                await one_stream(client, counts, rng.random() < abort_ratio)

        await asyncio.gather(*(worker() for _ in range(streams)))
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def wait_ready(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(200):
            try:
                state: dict[str, Any] = (await client.get("/soak/state")).json()
                return state
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    raise SystemExit("the soak server did not start")


async def settle(base_url: str, limit: float = 10.0) -> tuple[dict[str, Any], float]:
    """The server's state once no upstream connection is open (or after ``limit`` s)."""
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url) as client:
        while True:
            state: dict[str, Any] = (await client.get("/soak/state")).json()
            waited = time.monotonic() - began
            if state["upstream_connections"] == 0 or waited > limit:
                return state, waited
            await asyncio.sleep(0.1)


def main(args: argparse.Namespace) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        report = asyncio.run(soak(f"http://127.0.0.1:{port}", args))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps(report, indent=2, ensure_ascii=False))


async def soak(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    before = await wait_ready(base_url)
    began = time.monotonic()
    counts = await load(base_url, args.streams, args.seconds, args.abort)
    elapsed = time.monotonic() - began
    after, waited = await settle(base_url)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "streams_in_flight": args.streams,
        "seconds": round(elapsed, 1),
        "abort_ratio": args.abort,
        "completed": counts.completed,
        "aborted_by_client": counts.aborted,
        "failed": counts.failed,
        "failures": counts.errors,
        "upstream_sockets_left_open": after["upstream_connections"],
        "settled_after_s": round(waited, 2),
        "server_tasks_before": before["tasks"],
        "server_tasks_after": after["tasks"],
        "server_rss_kib_start": before["rss_kib"],
        "server_rss_kib_end": after["rss_kib"],
    }


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--abort", type=float, default=0.1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    if arguments.serve:
        asyncio.run(serve(arguments.port))
    else:
        main(arguments)
