"""What the Redis limits backend costs per request, against the in-memory one.

Starts a Spark simulator, a ``redis-server`` (or uses ``$REDIS_URL``) and two gateways with the
same model and limits (``max_concurrency``, ``max_qps``, a client key with
``requests_per_minute`` and ``tokens_per_minute``, all far above the load so nothing is
refused): one with ``"limits": {"backend": "memory"}``, one with ``"backend": "redis"``.  Sends
non-streamed requests at concurrency 1 and 16, the two gateways interleaved round by round, and
reports the latency p50/p99 of each and the difference (what Redis adds per request: for this
model and key the key's budget check and rate hit, the slot, the model's rate hit, then the
slot's release and the tokens' spend, i.e. six round trips to Redis).  Also times the
limiter operations alone.

Run:  python benchmarks/bench_limits.py [--requests 2000] [--rounds 3]

Everything stays on 127.0.0.1.  Write the output into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import HttpClient, pct, run_batch  # noqa: E402
from run import APP_ID, KEY, LOAD_CORE, SECRET, SERVER_CORE, Proc, free_port, start  # noqa: E402

from asgi_spark.limits.memory import MemoryLimiter  # noqa: E402
from asgi_spark.limits.redis_backend import RedisLimiter  # noqa: E402
from asgi_spark.secrets import Secret  # noqa: E402

CLIENT_KEY = "sk-bench-0123456789"


def config(sim_url: str, limits: dict[str, object]) -> dict[str, object]:
    model = {
        "id": "bench",
        "adapter": "websocket_xunfei",
        "api_key": KEY,
        "proxy": None,
        "base_url": sim_url,
        "config": {"app_id": APP_ID, "api_secret": SECRET, "api_version": "v3.5"},
        "max_concurrency": 1000,
        "max_qps": 100_000,
    }
    key = {
        "key": CLIENT_KEY,
        "name": "bench",
        "requests_per_minute": 10_000_000,
        "tokens_per_minute": 1_000_000_000,
    }
    return {"models": [model], "api_keys": [key], "limits": limits}


def start_redis() -> tuple[str, subprocess.Popen[bytes] | None]:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("needs redis-server (apt-get install redis-server) or $REDIS_URL")
    port = free_port()
    args = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = start("redis", args, port, LOAD_CORE, None)
    return f"redis://127.0.0.1:{port}/0", proc.popen


async def limiter_ops(url: str, n: int) -> dict[str, dict[str, float]]:
    """Each limiter operation alone, sequentially: p50/p99 in microseconds."""
    out: dict[str, dict[str, float]] = {}
    prefix = f"bench-{os.getpid()}"
    for name, limiter in (
        ("memory", MemoryLimiter({"m": 1000})),
        (
            "redis",
            RedisLimiter(
                Secret(url),
                {"m": 1000},
                lease_seconds=30,
                on_unavailable="fail_closed",
                key_prefix=prefix,
            ),
        ),
    ):
        times: dict[str, list[float]] = {"acquire+release": [], "hit": [], "check+spend": []}
        for i in range(n):
            t0 = time.perf_counter()
            lease = await limiter.acquire("m", 1, timeout=0)
            await lease.release()
            t1 = time.perf_counter()
            await limiter.hit("q", 10_000_000, 60.0)
            t2 = time.perf_counter()
            await limiter.check("k", 10**12, 60.0)
            await limiter.spend("k", 10, 60.0)
            t3 = time.perf_counter()
            if i >= n // 10:  # warm-up left out
                times["acquire+release"].append(t1 - t0)
                times["hit"].append(t2 - t1)
                times["check+spend"].append(t3 - t2)
        await limiter.aclose()
        for op, values in times.items():
            out[f"{name} {op}"] = {"p50": pct(values, 50) * 1e6, "p99": pct(values, 99) * 1e6}
    return out


async def main_async(args: argparse.Namespace) -> None:
    cli = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
    procs: list[Proc] = []
    redis_url, redis_proc = start_redis()
    paths: list[str] = []
    try:
        port = free_port()
        creds = ["--app-id", APP_ID, "--api-key", KEY, "--api-secret", SECRET]
        sim = start("sim", [cli, "simulator", "--port", str(port), *creds], port, LOAD_CORE, None)
        procs.append(sim)
        gateways: dict[str, Proc] = {}
        for name, limits in (
            ("memory", {"backend": "memory"}),
            ("redis", {"backend": "redis", "url": redis_url, "on_unavailable": "fail_closed"}),
        ):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(config(f"ws://127.0.0.1:{port}", limits), f)
            paths.append(f.name)
            gw_port = free_port()
            serve = [cli, "serve", "--config", f.name, "--port", str(gw_port)]
            serve += ["--log-level", "warning", "--loop", "asyncio", "--http", "h11"]
            gateways[name] = start(f"gateway-{name}", serve, gw_port, SERVER_CORE, None)
            procs.append(gateways[name])
        body = {"model": "bench", "messages": [{"role": "user", "content": "hi [spark:chunks=2]"}]}
        headers = {"authorization": f"Bearer {CLIENT_KEY}"}

        def caller(proc: Proc):  # type: ignore[no-untyped-def]
            def make(_i: int):  # type: ignore[no-untyped-def]
                client = HttpClient("127.0.0.1", proc.port, dict(headers))
                return lambda: client.post("/v1/chat/completions", body)

            return make

        for proc in gateways.values():  # warm up
            warm = await run_batch(caller(proc), 200, 4)
            assert warm.errors == 0, warm.last_error
        print(f"# {time.strftime('%Y-%m-%d')} bench_limits: {platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}")  # fmt: skip
        print("| c | backend | total p50 / p99 (ms) | req/s | errors |")
        print("|---|---|---|---|---|")
        results: dict[tuple[int, str], dict[str, float]] = {}
        for concurrency in (1, 16):
            totals: dict[str, list[float]] = {"memory": [], "redis": []}
            errors = {"memory": 0, "redis": 0}
            wall = {"memory": 0.0, "redis": 0.0}
            for round_ in range(args.rounds):
                order = list(gateways) if round_ % 2 == 0 else list(reversed(gateways))
                for name in order:
                    batch = await run_batch(caller(gateways[name]), args.requests, concurrency)
                    totals[name] += batch.total
                    errors[name] += batch.errors
                    wall[name] += batch.wall
            for name in gateways:
                done = len(totals[name])
                row = {
                    "p50": pct(totals[name], 50) * 1000,
                    "p99": pct(totals[name], 99) * 1000,
                    "rate": done / wall[name] if wall[name] else 0.0,
                }
                results[(concurrency, name)] = row
                print(
                    f"| {concurrency} | {name} | {row['p50']:.2f} / {row['p99']:.2f} | "
                    f"{row['rate']:.0f} | {errors[name]} |"
                )
        print()
        for concurrency in (1, 16):
            mem, red = results[(concurrency, "memory")], results[(concurrency, "redis")]
            print(
                f"c={concurrency}: Redis adds {red['p50'] - mem['p50']:.2f} ms at p50, "
                f"{red['p99'] - mem['p99']:.2f} ms at p99"
            )
        print()
        print("| operation | p50 / p99 (µs) |")
        print("|---|---|")
        for op, row in (await limiter_ops(redis_url, args.ops)).items():
            print(f"| {op} | {row['p50']:.1f} / {row['p99']:.1f} |")
    finally:
        for proc in procs:
            proc.popen.terminate()
            proc.popen.wait(timeout=10)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        for path in paths:
            os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--ops", type=int, default=3000, help="limiter operations timed")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
