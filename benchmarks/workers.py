"""Two worker processes against one: ``asgi-spark serve --workers 1`` and ``--workers 2`` in
front of the simulator, streams/s and non-stream req/s at c=64, on loopback.

    python benchmarks/workers.py            # about a minute; --rounds, --requests to change

What runs: one simulator (``asgi-spark simulator``) and the two gateways (each
``asgi-spark serve --log-level warning``, the loop and HTTP parser uvicorn picks), all started
once; the load generator of ``loadgen.py`` in this process.  Nothing is pinned: the point is
what a second worker gets out of the machine's cores, which the simulator and the load
generator share with the gateway, as they would share them with other work in production.
Systems are interleaved round by round (order rotated); the gateway's CPU is the user + system
time of the supervisor and its workers.  The table is written to ``RESULTS.md`` between this
script's own markers (outside ``run.py``'s generated section).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import APP_ID, KEY, SECRET, Batch, HttpClient, pct, run_batch  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CLI = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
PROMPT = "hello [spark:chunks=10]"
BEGIN = "<!-- benchmarks/workers.py: begin (generated; edit outside the markers) -->"
END = "<!-- benchmarks/workers.py: end -->"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (alive now)."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
        for task in os.listdir(f"/proc/{pid}/task"):
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            total += sum(tree_cpu(int(child)) for child in children)
    return total


def launch(args: list[str], ready: str, times: int = 1) -> subprocess.Popen[str]:
    """Start ``args``; return once ``ready`` (a regex) has been printed ``times`` times."""
    popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert popen.stdout is not None
    seen = threading.Semaphore(0)

    def read() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            if re.search(ready, line):
                seen.release()

    threading.Thread(target=read, daemon=True).start()
    for _ in range(times):
        if not seen.acquire(timeout=60):
            popen.kill()
            raise RuntimeError(f"{args[:3]} did not print {ready!r}")
    return popen


async def batch(port: int, *, stream: bool, requests: int, concurrency: int) -> Batch:
    body = {"model": "bench", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}
    clients: list[HttpClient] = []

    def make(i: int):  # type: ignore[no-untyped-def]
        client = HttpClient("127.0.0.1", port)
        clients.append(client)
        return lambda: client.post("/v1/chat/completions", body)

    try:
        return await run_batch(make, requests, concurrency)
    finally:
        for client in clients:
            client.close()


async def main_async(args: argparse.Namespace) -> str:
    sim_port = free_port()
    creds = ["--app-id", APP_ID, "--api-key", KEY, "--api-secret", SECRET]
    processes = [launch([CLI, "simulator", "--port", str(sim_port), *creds], "listening on")]
    entry = {
        "id": "bench",
        "adapter": "websocket_xunfei",
        "base_url": f"ws://127.0.0.1:{sim_port}",
        "api_key": KEY,
        "proxy": None,
        "config": {"app_id": APP_ID, "api_secret": SECRET},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"models": [entry]}, f)
    gateways: dict[int, tuple[int, subprocess.Popen[str]]] = {}
    load = os.getloadavg()
    started = time.monotonic()
    try:
        for workers in (1, 2):
            port = free_port()
            serve = [CLI, "serve", "--config", f.name, "--port", str(port), "--log-level", "info"]
            popen = launch(
                [*serve, "--workers", str(workers)], "Application startup complete", workers
            )
            processes.append(popen)
            gateways[workers] = (port, popen)
        for port, _ in gateways.values():  # warm up: connections, code paths, every worker
            await batch(port, stream=True, requests=256, concurrency=args.concurrency)
        results: dict[tuple[int, bool], Batch] = {}
        cpu: dict[tuple[int, bool], float] = {}
        rates: dict[tuple[int, bool], list[float]] = {}
        for r in range(args.rounds):
            order = [1, 2] if r % 2 == 0 else [2, 1]
            for workers in order:
                port, popen = gateways[workers]
                for stream in (True, False):
                    before = tree_cpu(popen.pid)
                    done = await batch(
                        port, stream=stream, requests=args.requests, concurrency=args.concurrency
                    )
                    cpu[(workers, stream)] = cpu.get((workers, stream), 0.0) + (
                        tree_cpu(popen.pid) - before
                    )
                    results.setdefault((workers, stream), Batch()).merge(done)
                    rates.setdefault((workers, stream), []).append(done.rate)
                    print(f"round {r + 1}: workers={workers} stream={stream}: {done.rate:.0f}/s")
    finally:
        for popen in processes:
            popen.terminate()
        for popen in processes:
            try:
                popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                popen.kill()
        os.unlink(f.name)
    return report(results, cpu, rates, args, time.monotonic() - started, load)


def report(
    results: dict[tuple[int, bool], Batch],
    cpu: dict[tuple[int, bool], float],
    rates: dict[tuple[int, bool], list[float]],
    args: argparse.Namespace,
    seconds: float,
    load: tuple[float, float, float],
) -> str:
    from importlib.metadata import version

    def v(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "not installed"

    today = datetime.date.today().isoformat()
    lines = [
        BEGIN,
        "",
        f"## Two workers against one ({today}): `python benchmarks/workers.py`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; uvicorn {v('uvicorn')}, "
        f"uvloop {v('uvloop')}, httptools {v('httptools')}; load average {load[0]:.2f} when "
        "the run started (above about 1, other work shared the machine and the numbers are "
        "indicative only).  ",
        f"`asgi-spark serve --workers N` (N = 1, 2) in front of one simulator, 10-chunk answers, "
        f"c={args.concurrency}, {args.requests} requests per batch, {args.rounds} rounds with the "
        f"order alternated, after a warm-up batch; nothing pinned: the simulator and the load "
        f"generator share the cores with the gateway.  Run time {seconds:.0f} s.",
        "",
        "| workers | answers | req/s | rounds' req/s, min to max | total p50 / p99 (ms) | errors "
        "| gateway CPU per request (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for stream in (True, False):
        for workers in (1, 2):
            b = results[(workers, stream)]
            per = cpu[(workers, stream)] / max(1, b.requests) * 1000
            lines.append(
                f"| {workers} | {'streamed' if stream else 'complete (stream: false)'} | "
                f"{b.rate:.0f} | {min(rates[(workers, stream)]):.0f} to "
                f"{max(rates[(workers, stream)]):.0f} | "
                f"{pct(b.total, 50) * 1000:.1f} / {pct(b.total, 99) * 1000:.1f} | "
                f"{b.errors} | {per:.2f} |"
            )
    gain = [results[(2, s)].rate / results[(1, s)].rate for s in (True, False)]
    lines += [
        "",
        f"Two workers give {gain[0]:.2f}x the streams/s and {gain[1]:.2f}x the non-stream req/s "
        "of one on this machine.",
        "",
        END,
    ]
    return "\n".join(lines)


def write(section: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1280)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    section = asyncio.run(main_async(args))
    print(section)
    if not args.no_write:
        write(section, HERE / "RESULTS.md")
        print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
