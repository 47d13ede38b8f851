"""The one name table: adapter names, the seed's ``websocket`` alias, and plug-in discovery.

A model entry's ``adapter`` is looked up, in this order, among

1. classes registered in this process with :func:`register_adapter`;
2. the built-in adapters (imported on first lookup, so importing the registry stays cheap);
3. installed plug-ins: entry points of the group ``asgi_spark.adapters``, whose name is the
   adapter name and whose value is ``"module:Class"``.  A plug-in is imported on the first
   lookup of its name, never before, so a broken plug-in only matters to entries naming it.

The seed guide's generic name ``websocket`` is an alias: with ``request_format`` it names the
adapter that speaks that format (``websocket`` + ``"xunfei"`` → ``websocket_xunfei``).  The
built-ins declare their format here, in :data:`_BUILTIN`; a registered adapter may declare one
with ``register_adapter(..., request_format=...)``.

Problems are :class:`RegistryError`, whose ``field`` names the entry field at fault; the
configuration loader reports them as ``ConfigError`` naming the model.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .adapters.base import Adapter

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: The entry-point group plug-ins declare their adapters in.
ENTRY_POINT_GROUP: Final = "asgi_spark.adapters"
#: The seed guide's generic adapter name; ``request_format`` picks the real one.
GENERIC_ADAPTER: Final = "websocket"


@dataclass(frozen=True, slots=True)
class _Builtin:
    target: str  # "module:attribute"
    request_format: str | None = None


_BUILTIN: Final[dict[str, _Builtin]] = {
    "websocket_xunfei": _Builtin("asgi_spark.adapters.spark.adapter:SparkAdapter", "xunfei"),
}

_registry: dict[str, type[Adapter]] = {}
_registered_formats: dict[str, str] = {}  # request_format -> adapter name
_plugin_cache: dict[tuple[str, ...], dict[str, list[EntryPoint]]] = {}


class RegistryError(LookupError):
    """An adapter name that cannot be served; ``field`` is the entry field to fix."""

    def __init__(self, message: str, field: str = "adapter") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def register_adapter(name: str, cls: type[Adapter], *, request_format: str | None = None) -> None:
    """Make ``cls`` available to model entries whose ``adapter`` is ``name``.

    With ``request_format``, ``"adapter": "websocket"`` plus that ``request_format`` also
    selects it.  Registering a name again replaces the previous class (useful in tests and for
    overriding a built-in or a plug-in with a subclass).
    """
    if not name or not name.strip():
        raise ValueError("an adapter name must be a non-empty string")
    _registry[name] = cls
    if request_format is not None:
        _registered_formats[request_format] = name


def unregister_adapter(name: str) -> None:
    """Forget a class registered with :func:`register_adapter` (built-ins stay)."""
    _registry.pop(name, None)
    for fmt in [fmt for fmt, target in _registered_formats.items() if target == name]:
        del _registered_formats[fmt]


def get_adapter(name: str) -> type[Adapter] | None:
    """The class for ``name``, or ``None``.  A plug-in that fails to load is a RegistryError."""
    if name in _registry:
        return _registry[name]
    builtin = _BUILTIN.get(name)
    if builtin is not None:
        module_name, _, attr = builtin.target.partition(":")
        cls: type[Adapter] = getattr(importlib.import_module(module_name), attr)
        _registry.setdefault(name, cls)
        return _registry[name]
    return _load_plugin(name)


def request_formats() -> dict[str, str]:
    """``request_format`` value → the adapter name ``websocket`` plus it selects."""
    formats = {b.request_format: n for n, b in _BUILTIN.items() if b.request_format is not None}
    return {**formats, **_registered_formats}


def resolve(adapter: str, request_format: str | None) -> str:
    """The adapter name an entry means (aliases resolved); RegistryError unless it exists."""
    formats = request_formats()
    supported = ", ".join(repr(fmt) for fmt in formats)
    name = adapter
    if adapter == GENERIC_ADAPTER:
        target = formats.get(request_format or "")
        if target is None:
            if request_format is None:
                message = (
                    f"adapter {GENERIC_ADAPTER!r} needs request_format to choose the protocol; "
                    f"supported request_format values: {supported}"
                )
            else:
                message = (
                    f"request_format {request_format!r} is not supported by adapter "
                    f"{GENERIC_ADAPTER!r}; supported request_format values: {supported}"
                )
            raise RegistryError(message, "request_format")
        name = target
    elif request_format is not None:
        spoken = [fmt for fmt, target in formats.items() if target == adapter]
        if spoken and request_format not in spoken:
            raise RegistryError(
                f"adapter {adapter!r} speaks request_format {spoken[0]!r}, not {request_format!r}",
                "request_format",
            )
    if get_adapter(name) is None:
        raise RegistryError(unknown_adapter_message(name))
    return name


def adapter_names() -> list[str]:
    """Every adapter name: registered, built in, and declared by installed plug-ins."""
    return sorted({*_BUILTIN, *_registry, *_plugins()})


def unknown_adapter_message(name: str) -> str:
    known = ", ".join(repr(n) for n in adapter_names())
    formats = ", ".join(repr(fmt) for fmt in request_formats())
    return (
        f"unknown adapter {name!r}; known adapters: {GENERIC_ADAPTER!r} (with request_format "
        f"{formats}), {known}; plug-ins declare theirs in the entry-point group "
        f"{ENTRY_POINT_GROUP!r} or call register_adapter()"
    )


# ----------------------------------------------------------------------------- plug-ins


def _plugins() -> dict[str, list[EntryPoint]]:
    """The installed plug-ins by adapter name (read once per ``sys.path``, nothing imported)."""
    key = tuple(sys.path)
    found = _plugin_cache.get(key)
    if found is None:
        from importlib.metadata import entry_points  # ~30 ms: only when a plug-in may be needed

        found = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(point.name, []).append(point)
        _plugin_cache.clear()
        _plugin_cache[key] = found
    return found


def _load_plugin(name: str) -> type[Adapter] | None:
    points = _plugins().get(name)
    if not points:
        return None
    if len({point.value for point in points}) > 1:
        offers = ", ".join(_describe(point) for point in points)
        raise RegistryError(f"adapter {name!r} is provided by more than one plug-in: {offers}")
    point = points[0]
    try:
        loaded = point.load()
    except Exception as exc:  # any error of third-party code: say which plug-in it was
        raise RegistryError(
            f"cannot load adapter plug-in {name!r} ({_describe(point)}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Adapter)):
        raise RegistryError(
            f"adapter plug-in {name!r} ({_describe(point)}) is not an Adapter subclass"
        )
    return loaded


def _describe(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    owner = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {point.value!r}{owner}"


__all__ = [
    "ENTRY_POINT_GROUP",
    "GENERIC_ADAPTER",
    "RegistryError",
    "adapter_names",
    "get_adapter",
    "register_adapter",
    "request_formats",
    "resolve",
    "unknown_adapter_message",
    "unregister_adapter",
]
