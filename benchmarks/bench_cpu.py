"""Server CPU per request and per chunk, and memory per open stream, of one gateway install:
the quick before/after check for CPU work (``run.py`` is the whole benchmark).

    python benchmarks/bench_cpu.py                      # plain install (asyncio, h11)
    python benchmarks/bench_cpu.py --fast               # uvloop + httptools
    python benchmarks/bench_cpu.py --streams 5000       # also RSS per open stream, close time
    python benchmarks/bench_cpu.py --baseline DIR       # A/B: also a gateway from DIR's source
    python benchmarks/bench_cpu.py --floor              # also the floor (floor_gateway.py)

``--baseline DIR`` runs a second gateway from the ``asgi_spark`` package found in ``DIR`` (e.g.
``git archive main asgi_spark | tar -x -C DIR``) with the same dependencies, interleaved round
by round with this tree's: the difference between the two is much steadier than either number
on a machine shared with other work.  ``--together`` loads both gateways at the same time
(both on core 0): a burst of other work on the machine then hits both alike.

It starts one simulator and one gateway (pinned like ``run.py``: the gateway on core 0, the
simulator and the load on core 1), then runs each measurement ``--rounds`` times and prints
every round and the median: CPU (user + system from ``/proc/<pid>/stat``) per streamed
10-chunk request at c=64, and per relayed chunk of a 5,000-chunk answer.  CPU time is robust
to other tenants on the machine in a way that latency is not; the rounds show the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import APP_ID, KEY, SECRET, run_batch  # noqa: E402
from run import (  # noqa: E402
    SERVER_CORE,
    Proc,
    bench_caller,
    free_port,
    prepare_load_process,
    start,
    start_floor,
)

#: Runs ``asgi_spark.cli`` from the source tree given as the first argument (not this one).
FROM_SOURCE = """
import sys
source = sys.argv.pop(1)
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path.insert(0, source)
from asgi_spark.cli import main
assert __import__("asgi_spark").__file__.startswith(source)
sys.argv[0] = "asgi-spark"
sys.exit(main())
"""


class Setup:
    """The simulator, the config and the ``_gateway`` factory ``run.hold_streams`` expects."""

    def __init__(self) -> None:
        cli = os.path.join(os.path.dirname(sys.executable), "asgi-spark")
        self.cli = cli
        port = free_port()
        creds = ["--app-id", APP_ID, "--api-key", KEY, "--api-secret", SECRET]
        self.sim = start("sim", [cli, "simulator", "--port", str(port), *creds], port, 1, None)
        spark = {"app_id": APP_ID, "api_secret": SECRET, "api_version": "v3.5"}
        model = {"adapter": "websocket_xunfei", "api_key": KEY, "proxy": None, "config": spark}
        config = {"models": [{**model, "id": "bench", "base_url": f"ws://127.0.0.1:{port}"}]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(config, f)
        self.config_path = f.name

    def _gateway(self, name: str, loop: str, http: str, source: str | None = None) -> Proc:
        port = free_port()
        cli = [self.cli] if source is None else [sys.executable, "-c", FROM_SOURCE, source]
        args = [*cli, "serve", "--config", self.config_path, "--port", str(port)]
        args += ["--log-level", "warning", "--loop", loop, "--http", http]
        return start(name, args, port, SERVER_CORE, None)

    def close(self) -> None:
        self.sim.popen.terminate()
        self.sim.popen.wait(timeout=10)
        os.unlink(self.config_path)


class From:
    """``setup``'s gateways, run from ``source`` (``None``: this tree), for ``hold_streams``."""

    def __init__(self, setup: Setup, source: str | None) -> None:
        self.setup, self.source = setup, source

    def _gateway(self, name: str, loop: str, http: str) -> Proc:
        return self.setup._gateway(name, loop, http, self.source)


TEN = "hello [spark:chunks=10]"
LONG = "long [spark:chunks=5000]"


async def cpu_of(gw: Proc, prompt: str, requests: int, concurrency: int) -> float:
    before = gw.cpu()
    batch = await run_batch(bench_caller(gw, prompt), requests, concurrency)
    assert batch.errors == 0, batch.last_error
    return gw.cpu() - before


async def main_async(args: argparse.Namespace) -> None:
    prepare_load_process()
    setup = Setup()
    loop, http = ("uvloop", "httptools") if args.fast else ("asyncio", "h11")
    gateways = {"this tree": setup._gateway("gateway", loop, http)}
    if args.baseline:
        gateways["baseline"] = setup._gateway("baseline", loop, http, args.baseline)
    if args.floor:
        gateways["floor"] = start_floor("floor", f"ws://127.0.0.1:{setup.sim.port}", fast=args.fast)
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in gateways}
    try:
        for gw in gateways.values():
            await cpu_of(gw, "warm [spark:chunks=10]", 200, 16)
        for r in range(args.rounds):
            if args.together:  # both at once: a burst of other work hits both alike
                names = list(gateways)
                cpus = await asyncio.gather(
                    *(cpu_of(gateways[n], TEN, args.requests, 64) for n in names)
                )
                longs = await asyncio.gather(
                    *(cpu_of(gateways[n], LONG, args.long, 1) for n in names)
                )
                measured = dict(zip(names, zip(cpus, longs, strict=True), strict=True))
            else:
                measured = {}
                for name, gw in gateways.items():
                    ten = await cpu_of(gw, TEN, args.requests, 64)
                    measured[name] = (ten, await cpu_of(gw, LONG, args.long, 1))
            for name, (ten, long) in measured.items():
                per_request, per_chunk = results[name]
                per_request.append(ten / args.requests * 1e3)
                per_chunk.append(long / (5000 * args.long) * 1e6)
                print(
                    f"round {r + 1} {name}: {per_request[-1]:.3f} ms/request, "
                    f"{per_chunk[-1]:.2f} µs/chunk",
                    flush=True,
                )
        for name, (per_request, per_chunk) in results.items():
            print(
                f"{name}, {loop}+{http}: median {statistics.median(per_request):.3f} ms per "
                f"streamed 10-chunk request (c=64), {statistics.median(per_chunk):.2f} µs per chunk"
            )
    finally:
        for gw in gateways.values():
            gw.popen.terminate()
            gw.popen.wait(timeout=10)
    try:
        if args.streams:
            from run import hold_streams

            sources = {"this tree": None}
            if args.baseline:
                sources["baseline"] = args.baseline
            for name, source in sources.items():
                held = await hold_streams(From(setup, source), loop, http, args.streams)  # type: ignore[arg-type]
                print(
                    f"{name}: {args.streams} open streams: {held['per_stream'] / 1024:.1f} KiB "
                    f"each, {held['errors']} errors, sockets closed after "
                    f"{held['closed_after']:.2f} s",
                    flush=True,
                )
    finally:
        setup.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="uvloop + httptools")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--long", type=int, default=3, help="5,000-chunk answers per round")
    parser.add_argument("--baseline", metavar="DIR", help="also a gateway from DIR's source")
    parser.add_argument(
        "--together", action="store_true", help="load both gateways at the same time"
    )
    parser.add_argument(
        "--floor", action="store_true", help="also floor_gateway.py (what no design gets under)"
    )
    parser.add_argument("--streams", type=int, default=0, help="open streams for RSS (0: skip)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
