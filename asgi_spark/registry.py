"""Adapter name → adapter class.  Third parties add theirs with :func:`register_adapter`.

Built-in adapters are imported lazily on first lookup so importing the registry stays cheap
and free of import cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .adapters.base import Adapter

_BUILTIN: Final[dict[str, str]] = {
    "websocket_xunfei": "asgi_spark.adapters.spark.adapter:SparkAdapter",
}

_registry: dict[str, type[Adapter]] = {}


def register_adapter(name: str, cls: type[Adapter]) -> None:
    """Make ``cls`` available to model entries whose ``adapter`` is ``name``.

    Registering a name again replaces the previous class (useful in tests and for overriding a
    built-in with a subclass).
    """
    if not name or not name.strip():
        raise ValueError("an adapter name must be a non-empty string")
    _registry[name] = cls


def unregister_adapter(name: str) -> None:
    _registry.pop(name, None)


def get_adapter(name: str) -> type[Adapter] | None:
    """The class registered under ``name``, or ``None``."""
    if name in _registry:
        return _registry[name]
    target = _BUILTIN.get(name)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), attr)
    _registry.setdefault(name, cls)
    return _registry[name]


def adapter_names() -> list[str]:
    return sorted({*_BUILTIN, *_registry})
