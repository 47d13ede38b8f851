"""Loading a configuration: sources, the three top-level shapes, ``ENV:``, entries, adapters.

A configuration is JSON in one of three shapes:

* a list of model entries (the seed guide's format);
* an object ``{"models": [...], "host": ..., "port": ..., "log_level": ..., "access_log": ...,
  "responses_store": ...}`` (it may also carry ``"$schema"``, for editors, and the security
  settings of :mod:`.security`: ``api_keys``, ``cors``, ``header_timeout``, ``body_timeout``,
  ``max_connections``; and ``drain``, :mod:`.drain`);
* a single model entry object (as the seed guide prints it), read as a list of one.

Loading (:func:`load_config`) goes, per entry:

1. ``ENV:NAME`` strings anywhere in an enabled entry (also inside ``config``, and in the
   top-level settings) are replaced by the environment variable ``NAME`` (see :mod:`.env`).
2. The entry is validated against :class:`~.schema.ModelEntry` by msgspec: unknown fields,
   wrong types, missing required fields and out-of-range numbers are errors naming the model id
   (or the entry's index when the id itself is missing) and the field path (:mod:`.messages`).
3. Semantic checks: ``base_url`` is ``ws://`` or ``wss://``; ``endpoint`` starts with ``/``;
   ``proxy`` is ``"auto"``, ``null`` or a proxy URL; ``retry.max_delay >= retry.initial_delay``;
   the adapter name is resolved by the registry (aliases, plug-ins) and must exist.
4. The ``config`` block is converted into the adapter's declared config type (:mod:`.typed`).

Entries with ``"enabled": false`` are checked for shape only (no ``ENV:`` resolution, no adapter
lookup, ``config`` only checked to be an object), so a disabled model may name variables or
plug-ins that are absent; their ids are listed in :attr:`GatewayConfig.disabled`.  Ids must be
unique over all entries.

Adapter-specific checks (the Spark version table, domains, limits) happen when the adapters are
built: :func:`build_adapters` constructs one adapter per enabled entry, and adapter constructors
raise :class:`ConfigError` for what they cannot serve.  No error message contains a secret value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from .. import registry
from ..decoding import JsonDecodeFailure, decode
from .env import EnvResolver, Where
from .limits import check_limits, model_rates
from .messages import ConfigError, did_you_mean, json_type, validation_issue
from .schema import (
    LOG_LEVELS,
    ConfigFile,
    GatewayConfig,
    ModelEntry,
    dec_hook,
    pooled_connections,
)
from .security import check_key_models, client_keys, cors_settings
from .typed import check_plain_config, convert_config, declared_config_type
from .urls import endpoint_problem, normalise_base_url, normalise_proxy

if TYPE_CHECKING:
    from ..adapters.base import Adapter

ConfigSource = str | os.PathLike[str] | bytes | list[Any] | dict[str, Any]

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_json_decoder: Final = msgspec.json.Decoder()
_TopLevel = ConfigFile[Any]  # entries are validated one by one, after the top level


def load_config(
    source: ConfigSource,
    *,
    env: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Load and validate a configuration.

    ``source`` is a path (``str`` or path-like) to a JSON file, the JSON text as ``bytes``, or
    the already decoded JSON (a list of entries or an object).  ``ENV:`` values are looked up in
    ``env`` (default: ``os.environ``).  Raises :class:`ConfigError`.  Adapters are not built
    here: call :func:`build_adapters` on the result for the adapter-specific checks.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if isinstance(source, (list, dict)):
        return _build_config(source, environ)
    if isinstance(source, bytes):
        return _build_config(decode_json(source), environ)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            return _build_config(decode_json(_read(path)), environ)
        except ConfigError as exc:
            raise exc.with_source(path) from None
    raise TypeError(f"cannot load a configuration from {type(source).__name__}")


def load_config_file(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Load the JSON configuration file at ``path`` (see :func:`load_config`)."""
    return load_config(os.fspath(path), env=env)


def build_adapters(config: GatewayConfig) -> dict[str, Adapter]:
    """One adapter per enabled model, keyed by model id.

    Each adapter validates its entry in its constructor; a :class:`ConfigError` it raises
    propagates (attributed to the entry's id if the adapter did not name it).
    """
    adapters: dict[str, Adapter] = {}
    for entry in config.models:
        cls = _adapter_class(entry.adapter, Where(model=entry.id))
        try:
            adapters[entry.id] = cls(entry)
        except ConfigError as exc:
            if exc.model is None and exc.index is None:
                raise ConfigError(exc.message, model=entry.id, field=exc.field) from exc
            raise
    return adapters


def decode_json(data: bytes) -> Any:
    """Decode JSON text; a syntax error becomes a :class:`ConfigError` with line and column."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if not data.strip():
        raise ConfigError("the configuration is empty (expected JSON)")
    try:
        return decode(_json_decoder, data)
    except JsonDecodeFailure as failure:
        if failure.kind == "syntax":
            raise ConfigError(_syntax_error_message(data.decode("utf-8"))) from None
        raise ConfigError(failure.describe("the configuration")) from None


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a JSON configuration file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {exc.strerror or exc}") from None


def _syntax_error_message(text: str) -> str:
    """Where and why ``text`` is not JSON, located by the standard library's parser.

    Its :class:`json.JSONDecodeError` gives stable ``lineno``/``colno`` (in characters) on every
    Python version, whatever the JSON library that refused the text says.
    """
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            return f"invalid JSON: the text ends early (unclosed bracket or string) at {where}"
        before = text[: exc.pos].rstrip()
        if before.endswith(",") and text[exc.pos : exc.pos + 1] in ("}", "]"):
            return f"invalid JSON at {where}: trailing comma before {text[exc.pos]!r}"
        return f"invalid JSON at {where}: {exc.msg}"
    except RecursionError:
        return "invalid JSON: it is nested too deeply"
    # The standard library accepts a few things JSON does not (NaN, Infinity).
    return "invalid JSON: NaN and Infinity are not JSON numbers"


# ------------------------------------------------------------------------- top-level shape


def _build_config(raw: Any, env: Mapping[str, str]) -> GatewayConfig:
    items, spec, resolver = _split_top_level(raw, env)
    enabled: list[ModelEntry] = []
    disabled: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        entry = _parse_entry(item, index, env)
        if entry.id in seen:
            raise ConfigError(
                f"duplicate model id: the entries at index {seen[entry.id]} and {index} both "
                "use it",
                model=entry.id,
                field="id",
            )
        seen[entry.id] = index
        if entry.enabled:
            enabled.append(entry)
        else:
            disabled.append(entry.id)
    if not enabled:
        detail = f" (disabled: {', '.join(disabled)})" if disabled else ""
        raise ConfigError(f"no enabled model in the configuration{detail}", field="models")
    _check_across_entries(enabled, disabled)
    model_rates(enabled)  # one max_qps per limit_group
    keys = None
    if spec.api_keys is not None:
        keys = client_keys(spec.api_keys, note=resolver.note)
        check_key_models(keys, seen)
    return GatewayConfig(
        models=enabled,
        host=spec.host,
        port=spec.port,
        log_level=spec.log_level,
        access_log=spec.access_log,
        responses_store=spec.responses_store,
        disabled=disabled,
        api_keys=keys,
        cors=None if spec.cors is None else cors_settings(spec.cors),
        header_timeout=spec.header_timeout,
        body_timeout=spec.body_timeout,
        max_connections=spec.max_connections,
        drain=spec.drain,
        limits=check_limits(spec.limits),
    )


def _check_across_entries(enabled: list[ModelEntry], disabled: list[str]) -> None:
    """Fallbacks name enabled models other than themselves; a ``limit_group`` has one
    ``max_concurrency``."""
    ids = [entry.id for entry in enabled]
    for entry in enabled:
        for i, target in enumerate(entry.fallbacks):
            field = f"fallbacks[{i}]"
            if target == entry.id:
                raise ConfigError("a model cannot fall back to itself", model=entry.id, field=field)
            if target not in ids:
                state = "is disabled" if target in disabled else "is not a model of this file"
                raise ConfigError(
                    f"fallback {target!r} {state}" + did_you_mean(target, ids),
                    model=entry.id,
                    field=field,
                )
    pooled = pooled_connections(enabled)
    for entry in enabled:
        capacity = entry.max_concurrency
        if entry.pool.size and capacity is not None and pooled[entry.limit_key] >= capacity:
            shared = f"limit_group {entry.limit_group!r}" if entry.limit_group else "the model"
            raise ConfigError(
                f"the pools of {shared} keep {pooled[entry.limit_key]} connection(s) open, "
                f"which must be fewer than max_concurrency ({capacity}): idle pooled "
                "connections count against the limit, and a request needs a slot too",
                model=entry.id,
                field="pool.size",
            )
    groups: dict[str, ModelEntry] = {}
    for entry in enabled:
        if entry.limit_group is None or entry.max_concurrency is None:
            continue
        first = groups.setdefault(entry.limit_group, entry)
        if first.max_concurrency != entry.max_concurrency:
            raise ConfigError(
                f"limit_group {entry.limit_group!r} has max_concurrency {first.max_concurrency} "
                f"in model {first.id!r} and {entry.max_concurrency} here; the models of a group "
                "share one limit, so give it once or equally",
                model=entry.id,
                field="max_concurrency",
            )


def _split_top_level(
    raw: Any, env: Mapping[str, str]
) -> tuple[list[Any], ConfigFile[Any], EnvResolver]:
    """The entries and the gateway settings of any of the three accepted shapes, and the
    resolver that read the settings' ``ENV:`` values."""
    resolver = EnvResolver(env, Where())
    if isinstance(raw, list):
        return raw, _TopLevel(models=raw), resolver
    if not isinstance(raw, dict):
        raise ConfigError(
            "the configuration must be a JSON array of model entries or an object with "
            f'"models": [...], not {json_type(raw)}'
        )
    if "models" not in raw and ("id" in raw or "adapter" in raw):
        return [raw], _TopLevel(models=[raw]), resolver  # one entry, as in the seed guide
    data = {
        key: value if key == "models" else resolver.resolve(value, str(key))
        for key, value in raw.items()
    }
    try:
        spec = msgspec.convert(data, _TopLevel, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        issue = validation_issue(exc, _TopLevel)
        if issue.kind == "unknown":
            allowed = ", ".join(sorted(issue.known))
            what = "top-level key" if issue.field == issue.name else "key"
            message = (
                f"unknown {what}{issue.message.removeprefix('unknown field')} (allowed: {allowed})"
            )
        elif issue.kind == "missing" and issue.field == "models":
            message = 'required key is missing: the object form is {"models": [...], ...}'
        else:
            message = issue.message + resolver.note(issue.field)
        raise ConfigError(message, field=issue.field) from None
    level = spec.log_level.strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"unknown log level {spec.log_level!r}; use one of {', '.join(LOG_LEVELS)}",
            field="log_level",
        )
    return spec.models, msgspec.structs.replace(spec, log_level=level), resolver


# ---------------------------------------------------------------------------- one entry


def _parse_entry(item: Any, index: int, env: Mapping[str, str]) -> ModelEntry:
    """Resolve, decode and check one entry (disabled entries: decode only)."""
    where = Where(index=index)
    if not isinstance(item, dict):
        raise where.error(f"a model entry must be a JSON object, not {json_type(item)}", None)
    resolver = EnvResolver(env, where)
    data = dict(item)
    if isinstance(data.get("id"), str):
        data["id"] = resolver.resolve(data["id"], "id")
        if data["id"]:
            where = resolver.where = Where(model=data["id"])
    if data.get("enabled", True) is not False:
        data = {key: resolver.resolve(value, str(key)) for key, value in data.items()}
    try:
        entry = msgspec.convert(data, ModelEntry, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        issue = validation_issue(exc, ModelEntry)
        raise where.error(issue.message + resolver.note(issue.field), issue.field) from None
    if not entry.enabled:
        return msgspec.structs.replace(entry, config=check_plain_config(entry.config, where))
    return _check_entry(entry, where, resolver)


def _check_entry(entry: ModelEntry, where: Where, resolver: EnvResolver) -> ModelEntry:
    """What msgspec's schema cannot say; returns the entry with normalised fields."""
    try:
        base_url = normalise_base_url(entry.base_url)
    except ValueError as exc:
        raise where.error(str(exc) + resolver.note("base_url"), "base_url") from None
    if entry.endpoint is not None:
        problem = endpoint_problem(entry.endpoint)
        if problem is not None:
            raise where.error(problem + resolver.note("endpoint"), "endpoint")
    proxy = entry.proxy
    if proxy is not None:
        try:
            proxy = normalise_proxy(proxy)
        except ValueError as exc:
            raise where.error(str(exc) + resolver.note("proxy"), "proxy") from None
    if entry.retry.max_delay < entry.retry.initial_delay:
        raise where.error(
            f"max_delay ({entry.retry.max_delay:g}) must be >= initial_delay "
            f"({entry.retry.initial_delay:g})",
            "retry.max_delay",
        )
    try:
        adapter = registry.resolve(entry.adapter, entry.request_format)
    except registry.RegistryError as exc:
        raise where.error(exc.message, exc.field) from None
    config_type = _config_type(_adapter_class(adapter, where), where)
    config = (
        check_plain_config(entry.config, where, resolver.note)
        if config_type is None
        else convert_config(entry.config, config_type, where, resolver.note)
    )
    return msgspec.structs.replace(
        entry, base_url=base_url, adapter=adapter, proxy=proxy, config=config
    )


def _adapter_class(name: str, where: Where) -> type[Adapter]:
    try:
        cls = registry.get_adapter(name)
    except registry.RegistryError as exc:
        raise where.error(exc.message, exc.field) from None
    if cls is None:
        raise where.error(registry.unknown_adapter_message(name), "adapter")
    return cls


def _config_type(cls: type[Adapter], where: Where) -> type[msgspec.Struct] | None:
    try:
        return declared_config_type(cls)
    except ConfigError as exc:
        raise where.error(exc.message, exc.field) from None


__all__ = [
    "ConfigSource",
    "build_adapters",
    "decode_json",
    "load_config",
    "load_config_file",
]
