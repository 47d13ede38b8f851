"""Hot-path cost per upstream frame: decode + translate + SSE-encode, no sockets.

Run:  python benchmarks/bench_translate.py [--frames 200000]

Prints frames per second and microseconds per frame for the streaming path (StreamEncoder) and
the aggregating path (Aggregator), plus peak traced memory for one long answer.  Record the
numbers in benchmarks/RESULTS.md with the date, machine and versions.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc

import msgspec

from asgi_spark.adapters.spark.translate import Translator
from asgi_spark.completion import Aggregator, StreamEncoder


def frames(n: int) -> list[bytes]:
    sid = "cht000b702a@dx18d6fb9d758b894540"
    out = []
    for seq in range(n):
        status = 0 if seq == 0 else (2 if seq == n - 1 else 1)
        payload: dict[str, object] = {
            "choices": {
                "status": status,
                "seq": seq,
                "text": [{"content": "可以通过以下方式 token ", "role": "assistant", "index": 0}],
            }
        }
        if status == 2:
            payload["usage"] = {
                "text": {
                    "question_tokens": 4,
                    "prompt_tokens": 4,
                    "completion_tokens": n,
                    "total_tokens": n + 4,
                }
            }
        out.append(
            json.dumps(
                {
                    "header": {"code": 0, "message": "Success", "sid": sid, "status": status},
                    "payload": payload,
                },
                ensure_ascii=False,
            ).encode()
        )
    return out


def run_stream(data: list[bytes]) -> int:
    translator = Translator(max_tokens=10**9)
    encoder = StreamEncoder("bench-model", 1700000000, include_usage=True)
    total = 0
    for raw in data:
        total += len(encoder.encode(translator.feed_raw(raw)))
    return total


def run_aggregate(data: list[bytes]) -> int:
    translator = Translator(max_tokens=10**9)
    aggregator = Aggregator("bench-model", 1700000000)
    for raw in data:
        aggregator.feed(translator.feed_raw(raw))
    return len(msgspec.json.encode(aggregator.result()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    data = frames(args.frames)
    print(
        f"python {platform.python_version()} on {platform.machine()}, msgspec {msgspec.__version__}"
    )
    for name, fn in (("stream", run_stream), ("aggregate", run_aggregate)):
        fn(frames(1000))  # warm up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn(data)
            best = min(best, time.perf_counter() - t0)
        print(
            f"{name:>9}: {args.frames / best:,.0f} frames/s, "
            f"{best / args.frames * 1e6:.2f} µs/frame"
        )
    long_answer = frames(20_000)
    tracemalloc.start()
    run_stream(long_answer)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"stream peak traced memory over 20,000 frames: {peak / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
