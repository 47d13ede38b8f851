"""Run iFlytek's OpenAI-compatible proxy (``sparkai.spark_proxy.server:app`` from
``spark-ai-python``) under uvicorn, its Spark URL pointed at a simulator.

The proxy maps the request's ``model`` to a URL in the module-level dict
``sparkai.spark_proxy.spark_api.model_map``; this script replaces the ``generalv3.5`` entry.
The app is imported inside uvicorn's running loop (its module grabs the loop at import and
applies ``nest_asyncio`` to it), as ``uvicorn sparkai.spark_proxy.server:app`` would.  Its
``print`` calls stay (they are part of its cost); run it with stdout sent to /dev/null.

Usage: python benchmarks/vendor_proxy.py --port 8000 --spark-url ws://127.0.0.1:8765/v3.5/chat
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

SPARK_URL = ""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Imports the vendor's app on first use (inside the server's loop) and delegates."""
    global _app
    if _app is None:
        from sparkai.spark_proxy import spark_api
        from sparkai.spark_proxy.server import app as vendor

        spark_api.model_map["generalv3.5"] = SPARK_URL
        _app = vendor
    await _app(scope, receive, send)


_app: Any = None


def main() -> None:
    global SPARK_URL
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spark-url", required=True)
    parser.add_argument("--loop", default="asyncio")
    parser.add_argument("--http", default="h11")
    args = parser.parse_args()
    SPARK_URL = args.spark_url
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        loop=args.loop,
        http=args.http,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
