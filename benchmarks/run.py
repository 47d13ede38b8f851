"""The whole benchmark in one command, on loopback: writes benchmarks/RESULTS.md and
benchmarks/results.png.

    pip install -e '.[bench]'          # matplotlib, uvloop, httptools, spark-ai-python
    python benchmarks/run.py           # about 4 minutes on 2 cores;  --quick: about 1.5

What runs (all on 127.0.0.1, every loop bounded by a request count):

* two simulators (``asgi-spark simulator``): one plain, one with a 30 ms handshake delay;
* the systems under test, each a server process of its own: the gateway (``asgi-spark serve``)
  and the vendor's proxy (``sparkai.spark_proxy.server:app``, ``vendor_proxy.py``), each in the
  plain install (asyncio loop, h11) and the ``fast`` one (uvloop, httptools), all with log
  level warning; and the direct client (a signed WebSocket straight to the simulator);
* pinning: on a machine with two cores or more, every server under test runs on core 0 and the
  load generator and the simulators on core 1 (``os.sched_setaffinity``); with one core nothing
  is pinned (RESULTS.md says so);
* interleaving: every measurement runs in rounds, and each round runs every system once, in
  an order rotated per round, so a drift of the machine hits all systems alike;
* CPU: user + system time of the server's process from ``/proc/<pid>/stat`` around each
  batch, divided by the requests (or the chunks) of the batch;
* memory: a fresh gateway, 5,000 streams held open at once (the upstream stalls after its
  first frame), RSS from ``/proc/<pid>/status`` before and with them open; then the clients
  leave and the gateway's sockets are counted until they are back where they were.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import (  # noqa: E402
    APP_ID,
    KEY,
    SECRET,
    Batch,
    HttpClient,
    direct,
    run_batch,
    spark_frame,
)
from report import write_report  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PINNED = (os.cpu_count() or 1) >= 2
SERVER_CORE, LOAD_CORE = 0, 1
INSTALLS = (("", "asyncio", "h11"), ("-fast", "uvloop", "httptools"))
VENDOR_AUTH = {"authorization": f"Bearer {KEY}&{SECRET}&{APP_ID}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        """User + system CPU seconds of the process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def sockets(self) -> int:
        n = 0
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            with contextlib.suppress(OSError):
                n += os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:")
        return n


def start(name: str, args: list[str], port: int, core: int, ready: bytes | None) -> Proc:
    """Start ``args`` on ``core``; wait until ``ready`` appears or the port accepts."""

    def pin() -> None:
        if PINNED:
            os.sched_setaffinity(0, {core})

    popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=pin)
    assert popen.stdout is not None
    threading.Thread(target=_drain, args=(popen.stdout,), daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}")
        with socket.socket() as s, contextlib.suppress(OSError):
            s.connect(("127.0.0.1", port))
            return Proc(name, popen, port)
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port}")


def _drain(stream: object) -> None:
    for _ in stream:  # type: ignore[attr-defined]
        pass


@dataclass
class Bench:
    quick: bool
    procs: dict[str, Proc] = field(default_factory=dict)
    sim_url: str = ""
    slow_url: str = ""
    config_path: str = ""
    results: dict[str, object] = field(default_factory=dict)

    # ----------------------------------------------------------------------- processes

    def start_all(self) -> None:
        bindir = os.path.dirname(sys.executable)
        cli = os.path.join(bindir, "asgi-spark")
        creds = ["--app-id", APP_ID, "--api-key", KEY, "--api-secret", SECRET]
        for name, fault in (("sim", []), ("sim-slow", ["--fault", "handshake_delay=0.03"])):
            port = free_port()
            self.procs[name] = start(
                name, [cli, "simulator", "--port", str(port), *creds, *fault], port, LOAD_CORE, None
            )
        self.sim_url = f"ws://127.0.0.1:{self.procs['sim'].port}"
        self.slow_url = f"ws://127.0.0.1:{self.procs['sim-slow'].port}"
        model = {"adapter": "websocket_xunfei", "api_key": KEY, "proxy": None}
        config = {
            "models": [
                {**model, "id": "bench", "base_url": self.sim_url, "config": _spark()},
                {**model, "id": "slow", "base_url": self.slow_url, "config": _spark()},
                {
                    **model,
                    "id": "slow-pool",
                    "base_url": self.slow_url,
                    "config": _spark(),
                    "pool": {"size": 8},
                },
            ]
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(config, f)
        self.config_path = f.name
        for name, loop, http in (
            ("gateway", "asyncio", "h11"),
            ("gateway-fast", "uvloop", "httptools"),
        ):
            self.procs[name] = self._gateway(name, loop, http)
        # The vendor's proxy applies nest_asyncio to its loop, which cannot patch uvloop: its
        # "fast" install is httptools on the asyncio loop.
        for name, loop, http in (
            ("vendor", "asyncio", "h11"),
            ("vendor-fast", "asyncio", "httptools"),
        ):
            port = free_port()
            args = [sys.executable, str(HERE / "vendor_proxy.py"), "--port", str(port)]
            args += ["--spark-url", self.sim_url + "/v3.5/chat", "--loop", loop, "--http", http]
            self.procs[name] = start(name, args, port, SERVER_CORE, None)
        for name, fast in (("floor", False), ("floor-fast", True)):
            self.procs[name] = start_floor(name, self.sim_url, fast=fast)

    def _gateway(self, name: str, loop: str, http: str) -> Proc:
        port = free_port()
        cli = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
        args = [cli, "serve", "--config", self.config_path, "--port", str(port)]
        args += ["--log-level", "warning", "--loop", loop, "--http", http]
        return start(name, args, port, SERVER_CORE, None)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.popen.terminate()
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
        if self.config_path:
            os.unlink(self.config_path)

    # --------------------------------------------------------------------------- calls

    def caller(self, system: str, prompt: str, *, stream: bool, model: str = "bench"):  # type: ignore[no-untyped-def]
        """A factory of per-worker calls of ``system``."""
        if system.startswith("direct"):
            url = (self.slow_url if system == "direct-slow" else self.sim_url) + "/v3.5/chat"
            frame = spark_frame(prompt)
            return lambda i: lambda: direct(url, frame)
        proc = self.procs[system]
        vendor = system.startswith("vendor")
        body = {
            "model": "generalv3.5" if vendor else model,
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        }
        clients: list[HttpClient] = []

        def make(i: int):  # type: ignore[no-untyped-def]
            client = HttpClient("127.0.0.1", proc.port, VENDOR_AUTH if vendor else {})
            clients.append(client)
            return lambda: client.post("/v1/chat/completions", body)

        make.clients = clients  # type: ignore[attr-defined]
        return make

    async def measure(
        self,
        systems: list[str],
        prompt: str,
        *,
        stream: bool,
        requests: int,
        concurrency: int,
        rounds: int,
        pace: float = 0.0,
        models: dict[str, str] | None = None,
    ) -> dict[str, dict[str, float]]:
        """Interleaved rounds; per system: the merged batch and the server CPU."""
        merged = {s: Batch() for s in systems}
        cpu = {s: 0.0 for s in systems}
        for r in range(rounds):
            order = systems[r % len(systems) :] + systems[: r % len(systems)]
            for system in order:
                target = (models or {}).get(system, "bench")
                real = system if system in self.procs or system.startswith("direct") else "gateway"
                make = self.caller(real, prompt, stream=stream, model=target)
                if pace:
                    make = _paced(make, pace)
                proc = self.procs.get(real)
                before = proc.cpu() if proc and not real.startswith("direct") else 0.0
                batch = await run_batch(make, requests, concurrency)
                if proc and not real.startswith("direct"):
                    cpu[system] += proc.cpu() - before
                for client in getattr(make, "clients", []):
                    client.close()
                merged[system].merge(batch)
        return {s: _summary(merged[s], cpu[s]) for s in systems}


def _spark() -> dict[str, str]:
    return {"app_id": APP_ID, "api_secret": SECRET, "api_version": "v3.5"}


def _paced(make, pace: float):  # type: ignore[no-untyped-def]
    def paced(i: int):  # type: ignore[no-untyped-def]
        call = make(i)

        async def run():  # type: ignore[no-untyped-def]
            await asyncio.sleep(pace)  # a think time between a user's requests
            return await call()

        return run

    paced.clients = getattr(make, "clients", [])  # type: ignore[attr-defined]
    return paced


def _summary(batch: Batch, cpu: float) -> dict[str, float]:
    from loadgen import pct

    ok = batch.requests - batch.errors
    return {
        "requests": batch.requests,
        "errors": batch.errors,
        "rate": batch.rate,
        "ttft_p50": pct(batch.ttft, 50),
        "ttft_p99": pct(batch.ttft, 99),
        "total_p50": pct(batch.total, 50),
        "total_p99": pct(batch.total, 99),
        "cpu_per_request": cpu / ok if ok else float("nan"),
    }


async def hold_streams(bench: Bench, loop: str, http: str, streams: int) -> dict[str, float]:
    """A fresh gateway with ``streams`` streams open at once: RSS per stream, errors, and how
    long its sockets take to close after the clients leave."""
    gw = bench._gateway(f"gateway-rss-{loop}", loop, http)
    try:
        warm = await run_batch(bench_caller(gw, "warm [spark:chunks=2]"), 50, 10)
        assert warm.errors == 0, warm.last_error
        await asyncio.sleep(0.5)
        base_rss, base_sockets = gw.rss(), gw.sockets()
        clients, errors = await open_held_streams(gw.port, streams)
        await asyncio.sleep(0.5)
        rss = gw.rss()
        left = time.monotonic()
        for c in clients:
            c.close()
        settled = float("nan")
        while time.monotonic() - left < 10:
            if gw.sockets() <= base_sockets:
                settled = time.monotonic() - left
                break
            await asyncio.sleep(0.01)
        return {
            "streams": streams,
            "errors": errors,
            "rss_base": base_rss,
            "rss_open": rss,
            "per_stream": (rss - base_rss) / streams,
            "closed_after": settled,
        }
    finally:
        gw.popen.terminate()
        gw.popen.wait(timeout=10)


def start_floor(name: str, upstream: str, *, fast: bool) -> Proc:
    """``floor_gateway.py`` in front of the simulator at ``upstream``, on the server core."""
    port = free_port()
    args = [sys.executable, str(HERE / "floor_gateway.py"), "--port", str(port)]
    args += ["--upstream", upstream, *(["--uvloop"] if fast else [])]
    return start(name, args, port, SERVER_CORE, None)


def bench_caller(proc: Proc, prompt: str):  # type: ignore[no-untyped-def]
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": prompt}]}

    def make(i: int):  # type: ignore[no-untyped-def]
        client = HttpClient("127.0.0.1", proc.port)
        return lambda: client.post("/v1/chat/completions", body)

    return make


async def open_held_streams(port: int, streams: int) -> tuple[list[HttpClient], int]:
    """``streams`` streams to the gateway on ``port``, each held open by the simulator after
    its first frame; returns their clients and how many did not open."""
    clients = [HttpClient("127.0.0.1", port) for _ in range(streams)]
    body = {
        "model": "bench",
        "stream": True,
        "messages": [{"role": "user", "content": "hold [spark:hang_after=1]"}],
    }
    firsts = await asyncio.gather(*(_first_chunk(c, body) for c in clients), return_exceptions=True)
    return clients, sum(1 for f in firsts if f is not True)


async def _first_chunk(client: HttpClient, body: dict[str, object]) -> bool:
    """Send a streamed request and return once its first event is in."""
    import json as _json

    conn = await client._connection()
    data = _json.dumps(body).encode()
    assert conn.transport is not None
    conn.transport.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    while b"data:" not in conn.buf:
        await conn.more()
    return conn.buf.startswith(b"HTTP/1.1 200")


def prepare_load_process() -> None:
    """The load generator's process: on the load core, with as many files as it may open."""
    if PINNED:
        os.sched_setaffinity(0, {LOAD_CORE})
    with contextlib.suppress(ValueError, OSError):
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main_async(args: argparse.Namespace) -> None:
    prepare_load_process()
    bench = Bench(quick=args.quick)
    bench.start_all()
    q = 2 if args.quick else 1
    rounds = 2 if args.quick else 3
    started = time.monotonic()
    r = bench.results
    try:
        ten = "hello [spark:chunks=10]"
        everyone = ["direct", "gateway", "vendor", "gateway-fast", "vendor-fast"]
        servers = ["gateway", "vendor", "gateway-fast", "vendor-fast"]
        sizes = {1: 120, 16: 320, 64: 640, 256: 768}
        r["stream"] = {}
        r["json"] = {}
        for c, n in sizes.items():
            print(f"streaming c={c}", flush=True)
            # the floor (floor_gateway.py) where the CPU target is read: c=64
            floors = ["floor", "floor-fast"] if c == 64 else []
            r["stream"][c] = await bench.measure(
                everyone + floors, ten, stream=True, requests=n // q, concurrency=c, rounds=rounds
            )
            print(f"non-streaming c={c}", flush=True)
            r["json"][c] = await bench.measure(
                servers, ten, stream=False, requests=n // q, concurrency=c, rounds=rounds
            )
        print("5,000-chunk answers", flush=True)
        r["long"] = await bench.measure(
            ["direct", *servers],
            "long [spark:chunks=5000]",
            stream=True,
            requests=2 if args.quick else 3,
            concurrency=1,
            rounds=rounds,
        )
        print("30 ms handshake", flush=True)
        r["handshake"] = await bench.measure(
            ["direct", "direct-slow", "gateway-slow", "gateway-slow-pool"],
            ten,
            stream=True,
            requests=60 // q,
            concurrency=1,
            rounds=rounds,
            pace=0.01,
            models={"gateway-slow": "slow", "gateway-slow-pool": "slow-pool"},
        )
        print("5,000 open streams", flush=True)
        r["rss"] = {
            "plain": await hold_streams(bench, "asyncio", "h11", 5000),
            "fast": await hold_streams(bench, "uvloop", "httptools", 5000),
        }
    finally:
        bench.stop_all()
    r["meta"] = _meta(time.monotonic() - started, args.quick)
    (HERE / "results.json").write_text(json.dumps(r, indent=1, default=str))
    write_report(r, HERE / "RESULTS.md", HERE / "results.png")
    print(f"wrote {HERE / 'RESULTS.md'} and {HERE / 'results.png'}")


def _meta(seconds: float, quick: bool) -> dict[str, str]:
    from importlib.metadata import version

    def v(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "-"

    packages = [
        "asgi-spark",
        "uvicorn",
        "starlette",
        "websockets",
        "msgspec",
        "uvloop",
        "httptools",
        "spark-ai-python",
        "fastapi",
    ]
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {v(p)}" for p in packages),
        "pinning": "servers on core 0, load generator and simulators on core 1"
        if PINNED
        else "none (one core)",
        "duration": f"{seconds:.0f} s" + (" (--quick)" if quick else ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="half the requests, 2 rounds")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
