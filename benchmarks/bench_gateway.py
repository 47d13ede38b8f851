"""End-to-end latency the gateway adds, over loopback.

Starts the Spark simulator and the gateway as two subprocesses (``asgi-spark simulator`` and
``asgi-spark serve``), then for each concurrency level sends the same streamed questions
(a) straight to the simulator over a signed WebSocket and (b) through the gateway as OpenAI SSE,
and prints p50/p95/p99 of time to first token (TTFT) and of the whole answer, and requests per
second.  The difference between (b) and (a) is the gateway's overhead.

Run:  python benchmarks/bench_gateway.py [--requests 400] [--concurrency 1 16 64]

All traffic stays on 127.0.0.1; every loop is bounded by --requests.  Record the output in
benchmarks/RESULTS.md with the date, machine and versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable

import httpx
from websockets.asyncio.client import connect

from asgi_spark.adapters.spark.auth import sign_url

APP_ID, KEY, SECRET = "bench-app", "bench-key", "bench-secret"
PROMPT = "请用三句话介绍一下合肥"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(args: list[str], marker: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            # keep draining the pipe so the child never blocks on a full one
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc
    raise RuntimeError(f"{args[0]} exited before saying {marker!r}")


async def direct(url: str) -> tuple[float, float]:
    frame = json.dumps(
        {
            "header": {"app_id": APP_ID},
            "parameter": {"chat": {"domain": "generalv3.5", "max_tokens": 4096}},
            "payload": {"message": {"text": [{"role": "user", "content": PROMPT}]}},
        }
    )
    t0 = time.perf_counter()
    ttft = 0.0
    async with connect(sign_url(url, KEY, SECRET), compression=None) as ws:
        await ws.send(frame)
        async for message in ws:
            if not ttft:
                ttft = time.perf_counter() - t0
            if json.loads(message)["header"]["status"] == 2:
                break
    return ttft, time.perf_counter() - t0


async def through_gateway(client: httpx.AsyncClient) -> tuple[float, float]:
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    t0 = time.perf_counter()
    ttft = 0.0
    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: ") and not ttft:
                ttft = time.perf_counter() - t0
            if line == "data: [DONE]":
                break
    return ttft, time.perf_counter() - t0


async def run(
    fn: Callable[[], Awaitable[tuple[float, float]]], requests: int, concurrency: int
) -> tuple[list[float], list[float], float]:
    queue = list(range(requests))
    ttfts: list[float] = []
    totals: list[float] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            ttft, total = await fn()
            ttfts.append(ttft)
            totals.append(total)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ttfts, totals, time.perf_counter() - t0


def pct(values: list[float]) -> str:
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {qs[49] * 1000:6.2f}  p95 {qs[94] * 1000:6.2f}  p99 {qs[98] * 1000:6.2f} ms"


async def main_async(args: argparse.Namespace) -> None:
    bindir = os.path.dirname(sys.executable)
    sim_port, gw_port = free_port(), free_port()
    sim = start(
        [
            os.path.join(bindir, "asgi-spark"),
            "simulator",
            "--port",
            str(sim_port),
            "--app-id",
            APP_ID,
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
        ],
        "ws://",
    )
    sim_url = f"ws://127.0.0.1:{sim_port}"
    config = [
        {
            "id": "bench",
            "adapter": "websocket_xunfei",
            "base_url": sim_url,
            "api_key": KEY,
            "config": {"app_id": APP_ID, "api_secret": SECRET},
        }
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    gw = start(
        [
            os.path.join(bindir, "asgi-spark"),
            "serve",
            "--config",
            f.name,
            "--port",
            str(gw_port),
        ],
        "Uvicorn running",
    )
    try:
        print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
        limits = httpx.Limits(max_connections=max(args.concurrency))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{gw_port}", limits=limits, timeout=60
        ) as client:
            for c in args.concurrency:
                await run(lambda: direct(sim_url + "/v3.5/chat"), min(20, args.requests), c)
                for name, fn in (
                    ("direct ", lambda: direct(sim_url + "/v3.5/chat")),
                    ("gateway", lambda: through_gateway(client)),
                ):
                    ttfts, totals, wall = await run(fn, args.requests, c)
                    print(
                        f"c={c:<3} {name} TTFT {pct(ttfts)} | answer {pct(totals)} | "
                        f"{args.requests / wall:7.1f} req/s"
                    )
    finally:
        for proc in (gw, sim):
            proc.terminate()
            proc.wait(timeout=10)
        os.unlink(f.name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
