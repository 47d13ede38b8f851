"""Demo mode: a runtime that owns a built-in Spark simulator on a free loopback port.

Without a configuration the gateway serves one model, ``spark-demo`` (Spark Max), from the
simulator, so it answers with no credentials and no network.  The simulator is closed with the
runtime.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Final

from .config import load_config
from .pipeline import Policy
from .runtime import Runtime, build_runtime

logger = logging.getLogger("asgi_spark")

DEMO_MODEL: Final = "spark-demo"
CONFIG_ENV: Final = "ASGI_SPARK_CONFIG"


def demo_config(simulator_url: str) -> dict[str, Any]:
    """The demo configuration: one Spark Max model served by the simulator at ``simulator_url``."""
    return {
        "models": [
            {
                "id": DEMO_MODEL,
                "adapter": "websocket",
                "request_format": "xunfei",
                "base_url": simulator_url,
                "api_key": "demo-key",
                "model": "Spark Max (simulated)",
                "config": {
                    "app_id": "demo-app",
                    "api_secret": "demo-secret",
                    "api_version": "v3.5",
                },
            }
        ]
    }


async def demo_runtime(outer: Sequence[Policy] = ()) -> Runtime:
    """Start the simulator and build a runtime that serves it (and stops it when closed);
    ``outer`` as for :func:`~asgi_spark.runtime.build_runtime`."""
    from .simulator import SparkSimulator

    async with contextlib.AsyncExitStack() as stack:
        simulator = SparkSimulator(
            app_id="demo-app",
            api_key="demo-key",
            api_secret="demo-secret",
            host="127.0.0.1",
            port=0,
            record_requests=False,
        )
        await simulator.start()
        stack.push_async_callback(simulator.stop)
        runtime = await build_runtime(
            load_config(demo_config(simulator.url)), stack=stack.pop_all(), outer=outer
        )
    logger.warning(
        "Demo mode: no configuration was given, so model %r is served from the built-in Spark "
        "simulator at %s (no credentials needed; pass --config or set %s for real Spark).",
        DEMO_MODEL,
        simulator.url,
        CONFIG_ENV,
    )
    return runtime


__all__ = ["CONFIG_ENV", "DEMO_MODEL", "demo_config", "demo_runtime"]
