"""The JSON Schema of a whole configuration file, generated from the config types.

``asgi-spark schema`` prints it.  It is built by :func:`msgspec.json.schema_components` from
:class:`~.schema.ConfigFile`, :class:`~.schema.ModelEntry` and the ``config_type`` of every
adapter the registry knows (built-ins, registered classes, installed plug-ins), so it says what
the loader accepts and cannot drift from it:

* the top level is ``anyOf`` the three shapes: the object form (``{"models": [...]}``, which
  may carry ``"$schema"``), a list of entries, or one entry;
* an entry's ``config`` is typed by its adapter through ``allOf`` of ``if``/``then`` rules, one
  per adapter name and one per ``"websocket"`` + ``request_format`` alias, each applying only to
  enabled entries (the loader does not check a disabled entry's block).  An adapter without a
  config type, or one not installed, leaves ``config`` a free-form object.

What only the loader can check (``ENV:`` variables being set, URL schemes, the Spark version
table) is not in the schema; ``asgi-spark check-config`` checks all of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final

import msgspec

from .. import registry
from ..secrets import Secret
from .schema import ConfigFile, ModelEntry
from .typed import declared_config_type

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_REF: Final = "#/$defs/{name}"
_SUPPORTS_HOOK: Final = (
    "schema_hook" in inspect.signature(msgspec.json.schema_components).parameters
)


def config_schema(*, warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a configuration file.

    Adapter plug-ins are imported to read their config types; one that fails to load is
    reported through ``warn`` and its ``config`` left free-form.
    """
    config_types = _config_types(warn or (lambda _message: None))
    distinct = list(dict.fromkeys(tp for tp in config_types.values() if tp is not None))
    kwargs: dict[str, Any] = {"schema_hook": _schema_hook} if _SUPPORTS_HOOK else {}
    refs, defs = msgspec.json.schema_components(
        [ConfigFile[ModelEntry], ModelEntry, *distinct], ref_template=_REF, **kwargs
    )
    file_ref, entry_ref, *config_refs = refs
    by_type = dict(zip(distinct, config_refs, strict=True))
    entry = defs["ModelEntry"]
    entry["properties"]["adapter"]["examples"] = [registry.GENERIC_ADAPTER, *config_types]
    rules: list[dict[str, Any]] = []
    for name, tp in config_types.items():
        if tp is not None:
            rules.append(_rule({"adapter": {"const": name}}, by_type[tp], defs))
    for fmt, name in registry.request_formats().items():
        tp = config_types.get(name)
        if tp is not None:
            when = {
                "adapter": {"const": registry.GENERIC_ADAPTER},
                "request_format": {"const": fmt},
            }
            rules.append(_rule(when, by_type[tp], defs))
    if rules:
        entry["allOf"] = rules
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": "asgi-spark configuration",
        "description": (
            'Model entries: a list, an object {"models": [...], "host", "port", "log_level", '
            '"api_keys", "cors", ...}, or a single entry.  Any string may be ENV:NAME to read '
            "it from the environment."
        ),
        "anyOf": [file_ref, {"type": "array", "items": entry_ref}, entry_ref],
        "$defs": defs,
    }
    renamed: dict[str, Any] = _renamed(schema, _name(file_ref), "ConfigFile")
    renamed["$defs"]["ConfigFile"]["title"] = "ConfigFile"
    return renamed


def _config_types(warn: Callable[[str], None]) -> dict[str, type[msgspec.Struct] | None]:
    """Adapter name → its declared config type (``None``: free-form or not loadable)."""
    found: dict[str, type[msgspec.Struct] | None] = {}
    for name in registry.adapter_names():
        try:
            cls = registry.get_adapter(name)
            found[name] = None if cls is None else declared_config_type(cls)
        except registry.RegistryError as exc:
            warn(f"{exc.message}; its config is left free-form in the schema")
            found[name] = None
        except ValueError as exc:  # ConfigError: a config_type that is not a Struct
            warn(f"adapter {name!r}: {exc}; its config is left free-form in the schema")
            found[name] = None
    return found


def _rule(when: dict[str, Any], config: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``if`` an enabled entry matches ``when`` ``then`` its ``config`` is ``config``."""
    then: dict[str, Any] = {"properties": {"config": config}}
    if defs.get(_name(config), {}).get("required"):
        then["required"] = ["config"]
    return {
        "if": {"properties": {**when, "enabled": {"const": True}}, "required": sorted(when)},
        "then": then,
    }


def _schema_hook(tp: type) -> dict[str, Any]:
    """Plug-ins may declare plain ``Secret`` fields: they are non-empty strings in JSON."""
    if tp is Secret:
        return {"type": "string", "minLength": 1}
    raise NotImplementedError(f"no JSON Schema for {tp!r}")


def _name(ref: dict[str, Any]) -> str:
    return str(ref.get("$ref", "")).rpartition("/")[2]


def _renamed(node: Any, old: str, new: str) -> Any:
    """``node`` with the definition ``old`` (and every reference to it) called ``new``."""
    if isinstance(node, list):
        return [_renamed(item, old, new) for item in node]
    if not isinstance(node, dict):
        return node
    renamed: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and value == _REF.format(name=old):
            renamed[key] = _REF.format(name=new)
        elif key == "$defs":
            renamed[key] = {new if k == old else k: _renamed(v, old, new) for k, v in value.items()}
        else:
            renamed[key] = _renamed(value, old, new)
    return renamed


__all__ = ["DIALECT", "config_schema"]
