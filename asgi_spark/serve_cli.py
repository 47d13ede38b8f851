"""``asgi-spark serve``'s drain options (:mod:`asgi_spark.drain`): ``--drain-delay`` and
``--drain-timeout``, which override the configuration's ``drain`` block."""

from __future__ import annotations

import argparse
import math


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def add_drain_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--drain-delay",
        type=seconds,
        default=None,
        metavar="S",
        help="on SIGTERM, answer /readyz 503 and keep serving for S seconds before no longer "
        "listening (default: the config's drain.delay, else 0)",
    )
    serve.add_argument(
        "--drain-timeout",
        type=seconds,
        default=None,
        metavar="S",
        help="then let requests in flight finish within S seconds, and end the rest with an "
        "error (default: the config's drain.timeout, else 30)",
    )


__all__ = ["add_drain_arguments", "seconds"]
