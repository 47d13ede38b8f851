"""RESULTS.md and the chart from one run of ``run.py``.

The generated part of RESULTS.md sits between two marker comments and is replaced by each run;
everything outside them (older runs, the soak, profiles written by hand) stays.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

BEGIN = "<!-- benchmarks/run.py: begin (generated; edit outside the markers) -->"
END = "<!-- benchmarks/run.py: end -->"
LEVELS = (1, 16, 64, 256)


def ms(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x * 1000:.2f}"


def us(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x * 1e6:.1f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def mark(ok: bool, text: str) -> str:
    return f"**met** ({text})" if ok else f"**missed** ({text})"


def targets(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, plain install, fast install) rows."""
    rows: list[tuple[str, str, str]] = []
    s64, j64, s1 = r["stream"][64], r["json"][64], r["stream"][1]
    long, hs, rss = r["long"], r["handshake"], r["rss"]

    def both(fn: Any) -> tuple[str, str]:
        return fn(""), fn("-fast")

    def cpu_req(sfx: str) -> str:
        v = s64["gateway" + sfx]["cpu_per_request"]
        text = f"{ms(v)} ms; target ≤ 0.5 ms, {_by(v, 0.0005)}"
        if "floor" + sfx in s64:
            text += f"; the floor: {ms(s64['floor' + sfx]['cpu_per_request'])} ms"
        return mark(v <= 0.0005, text)

    def cpu_chunk(sfx: str) -> str:
        v = long["gateway" + sfx]["cpu_per_request"] / 5000
        return mark(v <= 10e-6, f"{us(v)} µs; target ≤ 10 µs, {_by(v, 10e-6)}")

    rows.append(("server CPU per streamed request (10 chunks, c=64)", *both(cpu_req)))
    rows.append(("server CPU per relayed chunk (5,000-chunk answer)", *both(cpu_chunk)))
    d50 = s1["gateway"]["ttft_p50"] - s1["direct"]["ttft_p50"]
    d99 = s1["gateway"]["ttft_p99"] - s1["direct"]["ttft_p99"]
    f50 = s1["gateway-fast"]["ttft_p50"] - s1["direct"]["ttft_p50"]
    f99 = s1["gateway-fast"]["ttft_p99"] - s1["direct"]["ttft_p99"]
    rows.append(
        (
            "added time to first token at c=1, p50 ≤ 0.5 ms / p99 ≤ 1 ms",
            mark(d50 <= 0.0005 and d99 <= 0.001, f"{ms(d50)} / {ms(d99)} ms"),
            mark(f50 <= 0.0005 and f99 <= 0.001, f"{ms(f50)} / {ms(f99)} ms"),
        )
    )

    def ratio_direct(sfx: str) -> str:
        g, d = s64["gateway" + sfx]["rate"], s64["direct"]["rate"]
        text = f"{g:,.0f} vs {d:,.0f} streams/s = {_ratio(g, d):.2f}x; target ≥ 0.9x"
        return mark(g >= 0.9 * d, text)

    def ratio_vendor(sfx: str) -> str:
        g, v = s64["gateway" + sfx]["rate"], s64["vendor" + sfx]["rate"]
        text = f"{g:,.0f} vs {v:,.0f} streams/s = {_ratio(g, v):.1f}x; target ≥ 3x"
        return mark(g >= 3 * v, text)

    def ratio_json(sfx: str) -> str:
        g, v = j64["gateway" + sfx]["rate"], j64["vendor" + sfx]["rate"]
        return mark(g >= 3 * v, f"{g:,.0f} vs {v:,.0f} req/s = {_ratio(g, v):.1f}x; target ≥ 3x")

    def errors(sfx: str) -> str:
        e = s64["gateway" + sfx]["errors"] + j64["gateway" + sfx]["errors"]
        return mark(e == 0, f"{e} errors")

    rows.append(("c=64 streams/s ≥ 0.9x the direct client", *both(ratio_direct)))
    rows.append(("c=64 streams/s ≥ 3x the vendor's proxy", *both(ratio_vendor)))
    rows.append(("c=64 non-stream req/s ≥ 3x the vendor's proxy", *both(ratio_json)))
    rows.append(("c=64 zero errors (gateway)", *both(errors)))

    def memory(kind: str) -> str:
        m = rss[kind]
        per = m["per_stream"] / 1024
        ok = per <= 24 and m["errors"] == 0 and m["closed_after"] <= 2
        return mark(
            ok,
            f"{per:.1f} KiB/stream, {m['errors']} errors, sockets closed "
            f"{m['closed_after']:.2f} s after the clients left",
        )

    rows.append(
        (
            "≤ 24 KiB RSS per open stream at 5,000, 0 errors, closed ≤ 2 s",
            memory("plain"),
            memory("fast"),
        )
    )
    pooled = hs["gateway-slow-pool"]["ttft_p50"] - hs["direct"]["ttft_p50"]
    rows.append(
        (
            "30 ms handshake: pooled TTFT p50 within 0.5 ms of direct without delay",
            mark(
                pooled <= 0.0005,
                f"{ms(hs['gateway-slow-pool']['ttft_p50'])} vs "
                f"{ms(hs['direct']['ttft_p50'])} ms: {ms(pooled)} ms",
            ),
            "— (plain install only)",
        )
    )
    return rows


def _by(value: float, target: float) -> str:
    return (
        f"{(target - value) / target:.0%} under"
        if value <= target
        else (f"{value / target:.1f}x over")
    )


def tables(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for kind, title, unit in (
        ("stream", "Streamed answers (10 chunks)", "streams/s"),
        ("json", "Complete answers (10 chunks, stream: false)", "req/s"),
    ):
        out += [
            f"### {title}",
            "",
            f"| c | system | TTFT p50 / p99 (ms) | total p50 / p99 (ms) | {unit} | "
            "errors | server CPU per request (ms) |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in LEVELS:
            for system, m in r[kind][c].items():
                out.append(
                    f"| {c} | {system} | {ms(m['ttft_p50'])} / {ms(m['ttft_p99'])} | "
                    f"{ms(m['total_p50'])} / {ms(m['total_p99'])} | {m['rate']:,.0f} | "
                    f"{m['errors']} | {ms(m['cpu_per_request'])} |"
                )
        out.append("")
    out += [
        "### One 5,000-chunk answer at a time",
        "",
        "| system | total p50 (ms) | server CPU per chunk (µs) | errors |",
        "|---|---|---|---|",
    ]
    for system, m in r["long"].items():
        out.append(
            f"| {system} | {ms(m['total_p50'])} | {us(m['cpu_per_request'] / 5000)} | "
            f"{m['errors']} |"
        )
    out += [
        "",
        "### A 30 ms upstream handshake (c=1, 10 ms between requests, pool size 8)",
        "",
        "| system | TTFT p50 / p99 (ms) | errors |",
        "|---|---|---|",
    ]
    names = {
        "direct": "direct client, no handshake delay",
        "direct-slow": "direct client, 30 ms handshake",
        "gateway-slow": "gateway, no pool, 30 ms handshake",
        "gateway-slow-pool": "gateway, warm pool, 30 ms handshake",
    }
    for system, m in r["handshake"].items():
        out.append(
            f"| {names[system]} | {ms(m['ttft_p50'])} / {ms(m['ttft_p99'])} | {m['errors']} |"
        )
    out += [
        "",
        "### 5,000 streams open at once (a fresh gateway each)",
        "",
        "| install | RSS before / with 5,000 open (MiB) | per stream (KiB) | errors | "
        "sockets closed after the clients left (s) |",
        "|---|---|---|---|---|",
    ]
    for kind, m in r["rss"].items():
        out.append(
            f"| {kind} | {m['rss_base'] / 2**20:.1f} / {m['rss_open'] / 2**20:.1f} | "
            f"{m['per_stream'] / 1024:.1f} | {m['errors']} | {m['closed_after']:.2f} |"
        )
    return out


def write_report(r: dict[str, Any], path: Path, chart: Path) -> None:
    meta = r["meta"]
    lines = [
        BEGIN,
        "",
        f"## {meta['date']}: `python benchmarks/run.py`",
        "",
        f"Machine: {meta['machine']}; Python {meta['python']}; {meta['versions']}.  ",
        f"Pinning: {meta['pinning']}. Systems interleaved round by round (3 rounds, order "
        f'rotated). Run time {meta["duration"]}. "plain": asyncio loop + h11; "fast": '
        "uvloop + httptools (the `fast` extra); every server at log level warning. "
        '"floor": `floor_gateway.py`, a bare asyncio gateway that does only what every '
        "request needs (HTTP in, one upstream WebSocket, JSON out) and none of a gateway's own "
        "work: the CPU no design on the same event loop gets under.",
        "",
        "### Targets",
        "",
        "| target | plain install | fast install |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in targets(r)]
    lines += ["", f"![latency and throughput against concurrency]({chart.name})", ""]
    lines += tables(r)
    lines += ["", END]
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, sep, tail = old.partition("\n\n")
        head += sep
    path.write_text(head + "\n".join(lines) + tail)
    _chart(r, chart)


def _chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (
        ("stream", "ttft_p50", "time to first token p50 (ms)", 1000),
        ("stream", "rate", "streams/s", 1),
        ("json", "rate", "complete answers/s (stream: false)", 1),
    )
    for ax, (kind, key, label, scale) in zip(axes, panels, strict=True):
        for system in r[kind][1]:
            ys = [r[kind][c][system][key] * scale for c in LEVELS]
            ax.plot(LEVELS, ys, marker="o", label=system)
        ax.set_xscale("log", base=2)
        ax.set_xticks(LEVELS, [str(c) for c in LEVELS])
        ax.set_xlabel("concurrency")
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend()
    fig.suptitle("asgi_spark vs the direct client and the vendor's proxy (loopback)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
