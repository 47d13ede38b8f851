"""Who holds the memory of an open stream: the gateway's Python allocations per open stream,
by owner (``tracemalloc``), for the RSS-per-stream target of ``run.py``.

    python benchmarks/mem_per_stream.py                 # 400 streams, plain install
    python benchmarks/mem_per_stream.py --streams 1000 --http httptools --loop uvloop

It starts a simulator and one gateway under ``tracemalloc`` (12 frames per allocation, so the
gateway runs some three times slower: the figures are bytes, not times), warms it up, takes a
snapshot, opens ``--streams`` streams that the simulator holds after their first frame, takes a
second snapshot and prints what grew, per stream:

* by owner: each allocation counts for the innermost frame outside the standard library (an
  asyncio transport made by ``loop.create_connection`` counts for the gateway line that called
  it; one made by the server's ``accept`` for uvicorn);
* the gateway's own lines, largest first.

RSS adds the allocator's slack to these figures (``run.py`` measures RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cpu import Setup  # noqa: E402
from loadgen import HttpClient, run_batch  # noqa: E402
from run import SERVER_CORE, bench_caller, free_port, open_held_streams, start  # noqa: E402

#: The gateway's process: ``asgi-spark serve`` with a SIGUSR1 handler that snapshots (the
#: first signal) and writes what grew since, per stream, to a file (the second).
TRACED = """
import collections, gc, signal, sys, tracemalloc
out, streams = sys.argv.pop(1), int(sys.argv.pop(1))
tracemalloc.start(12)
base = []

def owner(frames):
    for frame in reversed(frames):  # innermost first
        name = frame.filename
        if "site-packages/" in name:
            return name.split("site-packages/")[-1].split("/")[0], None
        if "/asgi_spark/" in name:
            return "asgi_spark", f"{name.rsplit('/asgi_spark/', 1)[-1]}:{frame.lineno}"
    return "standard library (the event loop)", None

def snap(signum, frame):
    gc.collect()
    now = tracemalloc.take_snapshot()
    if not base:
        base.append(now)
        return
    owners, lines = collections.Counter(), collections.Counter()
    for stat in now.compare_to(base[0], "traceback"):
        if stat.size_diff > 0:
            who, line = owner(list(stat.traceback))
            owners[who] += stat.size_diff
            if line is not None:
                lines[line] += stat.size_diff
    with open(out + ".part", "w") as f:
        for who, size in owners.most_common():
            f.write(f"owner\\t{size / streams:.0f}\\t{who}\\n")
        for line, size in lines.most_common():
            f.write(f"line\\t{size / streams:.0f}\\t{line}\\n")
    import os
    os.replace(out + ".part", out)

signal.signal(signal.SIGUSR1, snap)
sys.argv[0] = "asgi-spark"
from asgi_spark.cli import main
sys.exit(main())
"""


async def main_async(args: argparse.Namespace) -> None:
    setup = Setup()
    out = os.path.join(tempfile.mkdtemp(), "grown.txt")  # written once, by the gateway
    port = free_port()
    cmd = [sys.executable, "-c", TRACED, out, str(args.streams), "serve"]
    cmd += ["--config", setup.config_path, "--port", str(port), "--log-level", "warning"]
    cmd += ["--loop", args.loop, "--http", args.http]
    gw = start("gateway", cmd, port, SERVER_CORE, None)
    clients: list[HttpClient] = []
    try:
        warm = await run_batch(bench_caller(gw, "warm [spark:chunks=2]"), 50, 10)
        assert warm.errors == 0, warm.last_error
        await asyncio.sleep(0.5)
        os.kill(gw.pid, signal.SIGUSR1)
        await asyncio.sleep(1.0)  # the snapshot is taken between two events of the loop
        clients, errors = await open_held_streams(gw.port, args.streams)
        assert errors == 0, f"{errors} streams did not open"
        os.kill(gw.pid, signal.SIGUSR1)
        for _ in range(1200):  # the snapshot of thousands of objects takes a while
            text = _read(out)
            if text is not None:
                report(text, args)
                break
            await asyncio.sleep(0.1)
    finally:
        for client in clients:
            client.close()
        gw.popen.kill()  # its drain would wait for the streams, slowly under tracemalloc
        gw.popen.wait(timeout=10)
        setup.close()
        _remove(out)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(path))


def report(text: str, args: argparse.Namespace) -> None:
    rows = [row.split("\t") for row in text.splitlines()]
    owners = [(int(size), who) for kind, size, who in rows if kind == "owner"]
    lines = [(int(size), where) for kind, size, where in rows if kind == "line"]
    total = sum(size for size, _ in owners)
    print(f"{args.streams} open streams, {args.loop} + {args.http}: {total} B per stream traced")
    for size, who in owners:
        print(f"  {size:6d} B  {who}")
    print("the gateway's own lines:")
    for size, where in lines[: args.top]:
        print(f"  {size:6d} B  asgi_spark/{where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    parser.add_argument("--http", default="h11", choices=["h11", "httptools"])
    parser.add_argument("--top", type=int, default=25, help="gateway lines to print")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
