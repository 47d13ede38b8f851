"""What the HTTP server alone costs per streamed request: a trivial app that streams 10 SSE
chunks (no upstream, no gateway) under uvicorn with h11, under uvicorn with httptools on the
same asyncio loop, and as a bare asyncio protocol.

    python benchmarks/http_floor.py [--requests 3000] [--rounds 3]

The servers run pinned like ``run.py`` (core 0; the load on core 1), interleaved round by
round; the CPU per request at c=64 comes from ``/proc/<pid>/stat``.  The difference between the
first and the last is what the HTTP layer of the plain install costs above the least any
server on that loop can spend; the middle one shows what a faster parser alone gives.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from floor_gateway import SSE_HEAD, spawn, take_request  # noqa: E402
from loadgen import run_batch  # noqa: E402
from run import SERVER_CORE, Proc, bench_caller, free_port, prepare_load_process, start  # noqa: E402

CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"bench",'
    b'"choices":[{"index":0,"delta":{"content":"some words of an answer"},'
    b'"finish_reason":null}]}\n\n'
)
DONE = b"data: [DONE]\n\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The trivial ASGI app: reads the body, streams ten chunks and ``[DONE]``."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for _ in range(10):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": DONE, "more_body": False})


class Bare(asyncio.Protocol):
    """The same answer from a bare protocol (keep-alive, ``Content-Length`` bodies only)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        request = take_request(self.buf)
        if request is None:
            return
        self.buf = request[1]
        self.transport.write(SSE_HEAD)
        spawn(self.answer())

    async def answer(self) -> None:  # a task per request, as any ASGI server has
        for _ in range(10):
            self.transport.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        self.transport.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(DONE), DONE))


async def serve_bare(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Bare, "127.0.0.1", port)
    await server.serve_forever()


def servers() -> dict[str, Proc]:
    procs: dict[str, Proc] = {}
    for name, http in (("uvicorn + h11", "h11"), ("uvicorn + httptools", "httptools")):
        port = free_port()
        args = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "http_floor:app"]
        args += ["--port", str(port), "--loop", "asyncio", "--http", http]
        args += ["--log-level", "warning", "--no-access-log"]
        procs[name] = start(name, args, port, SERVER_CORE, None)
    port = free_port()
    args = [sys.executable, str(Path(__file__)), "--serve-bare", str(port)]
    procs["bare asyncio protocol"] = start("bare", args, port, SERVER_CORE, None)
    return procs


async def main_async(args: argparse.Namespace) -> None:
    prepare_load_process()
    procs = servers()
    results: dict[str, list[float]] = {name: [] for name in procs}
    try:
        for proc in procs.values():
            await run_batch(bench_caller(proc, "warm"), 300, 16)
        for r in range(args.rounds):
            names = list(procs)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                proc = procs[name]
                before = proc.cpu()
                batch = await run_batch(bench_caller(proc, "x"), args.requests, 64)
                assert batch.errors == 0, batch.last_error
                results[name].append((proc.cpu() - before) / args.requests * 1e3)
    finally:
        for proc in procs.values():
            proc.popen.terminate()
            proc.popen.wait(timeout=10)
    print("server CPU per streamed 10-chunk request, c=64, asyncio loop (ms; each round, median)")
    for name, values in results.items():
        rounds = ", ".join(f"{v:.3f}" for v in values)
        print(f"  {name:24s} {rounds}  median {statistics.median(values):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        asyncio.run(serve_bare(args.serve_bare))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
