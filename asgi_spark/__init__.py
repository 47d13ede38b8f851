"""asgi_spark: an OpenAI-compatible ASGI gateway for WebSocket LLMs, iFlytek Spark first.

Public face::

    from asgi_spark import create_app, register_adapter, WebSocketAdapter
    gateway = create_app("models.json")      # mount it, or serve it with uvicorn

``asgi_spark.app`` is the standalone app for ``uvicorn asgi_spark:app``: it reads the config path
from ``$ASGI_SPARK_CONFIG`` and runs the demo (built-in Spark simulator) without one.  It is
built on first access, so importing the package has no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import register_adapter

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .adapters.base import Adapter, BinaryFrame, Exchange, TextFrame, WebSocketAdapter
    from .gateway import Gateway, create_app

__all__ = [
    "Adapter",
    "BinaryFrame",
    "Exchange",
    "Gateway",
    "TextFrame",
    "WebSocketAdapter",
    "__version__",
    "app",
    "create_app",
    "register_adapter",
]

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app
    if name == "app":
        if _app is None:
            from .gateway import app_from_environment

            _app = app_from_environment()
        return _app
    if name in ("create_app", "Gateway"):
        from . import gateway as gateway_module

        return getattr(gateway_module, name)
    if name in ("Adapter", "BinaryFrame", "Exchange", "TextFrame", "WebSocketAdapter"):
        from .adapters import base

        return getattr(base, name)
    raise AttributeError(f"module 'asgi_spark' has no attribute {name!r}")
