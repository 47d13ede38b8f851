"""The JSON model registry: model entries and gateway settings as msgspec Structs.

A configuration is JSON in one of three shapes:

* a list of model entries (the seed guide's format);
* an object ``{"models": [...], "host": ..., "port": ..., "log_level": ...}``;
* a single model entry object (as the seed guide prints it), read as a list of one.

Loading (:func:`load_config`) goes, per entry:

1. ``ENV:NAME`` strings anywhere in an enabled entry (also inside ``config``, and in the
   top-level settings) are replaced by the environment variable ``NAME``.  A variable that is not
   set, or set to the empty string, is an error naming the model, the field and the variable.
   Environment variables give strings, so ``ENV:`` works where a string is expected.
2. The entry is validated against :class:`ModelEntry` by msgspec: unknown fields, wrong types,
   missing required fields and out-of-range numbers are errors naming the model id (or the
   entry's index when the id itself is missing) and the field path, in msgspec's own words.
3. Semantic checks: ``base_url`` is ``ws://`` or ``wss://``; ``endpoint`` starts with ``/``;
   ``retry.max_delay >= retry.initial_delay``; the adapter name is normalised
   (``websocket`` + ``request_format: "xunfei"`` → ``websocket_xunfei``) and must be registered.

Entries with ``"enabled": false`` are checked for shape only (no ``ENV:`` resolution, no adapter
lookup), so a disabled model may name variables or plug-ins that are absent; their ids are listed
in :attr:`GatewayConfig.disabled`.  Ids must be unique over all entries.

Adapter-specific checks (the Spark version table, domains, limits) happen when the adapters are
built: :func:`build_adapters` constructs one adapter per enabled entry, and adapter constructors
raise :class:`ConfigError` for what they cannot serve.  No error message contains a secret value.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from . import registry
from .decoding import JsonDecodeFailure, decode, split_path
from .secrets import MASK, Secret

if TYPE_CHECKING:
    from .adapters.base import Adapter

ENV_PREFIX: Final = "ENV:"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
DEFAULT_LOG_LEVEL: Final = "info"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")

#: The generic adapter name of the seed guide and the built-in adapter each request_format picks.
WEBSOCKET_ADAPTER: Final = "websocket"
REQUEST_FORMATS: Final[Mapping[str, str]] = {"xunfei": "websocket_xunfei"}

#: ``config`` keys whose values are shown in ``repr(ModelEntry)``; every other string is masked.
PLAIN_CONFIG_KEYS: Final = frozenset({"api_version", "domain"})

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_json_decoder: Final = msgspec.json.Decoder()


class ConfigError(ValueError):
    """A configuration problem.  The message names the model id and the field.

    ``model`` is the entry's id (``None`` for problems outside an entry), ``index`` its position
    when the id is missing, ``field`` the dotted path inside the entry (``config.api_secret``) or
    the top-level key, and ``source`` the file the configuration came from.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        field: str | None = None,
        index: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.model = model
        self.field = field
        self.index = index
        self.source = source
        super().__init__(self._compose())

    def _compose(self) -> str:
        where: list[str] = []
        if self.model is not None:
            where.append(f"model {self.model!r}")
        elif self.index is not None:
            where.append(f"model entry at index {self.index}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return f"{self.source}: {text}" if self.source is not None else text

    def with_source(self, source: str) -> ConfigError:
        """The same error, attributed to the file ``source``."""
        return ConfigError(
            self.message, model=self.model, field=self.field, index=self.index, source=source
        )


class RetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The seed's ``retry`` block (validated now; acted upon by the retry layer)."""

    enabled: bool = False
    max_retries: Annotated[int, Meta(ge=0)] = 3
    initial_delay: Annotated[float, Meta(ge=0)] = 1.0
    max_delay: Annotated[float, Meta(ge=0)] = 30.0
    exponential_base: Annotated[float, Meta(ge=1)] = 2.0
    jitter: bool = True


class ModelEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One served model, as written in the seed guide's format (after ``ENV:`` resolution).

    ``repr`` masks ``api_key`` and every string inside ``config`` except ``api_version`` and
    ``domain``, so an entry can be logged.
    """

    id: Annotated[str, Meta(min_length=1)]
    adapter: str  # normalised: "websocket" + request_format "xunfei" -> "websocket_xunfei"
    base_url: str  # ws:// or wss://, without trailing slash
    api_key: Secret
    enabled: bool = True
    model: str | None = None
    endpoint: str | None = None
    request_format: str | None = None
    response_format: Literal["openai"] | None = None
    temperature: float | None = None
    max_tokens: Annotated[int, Meta(ge=1)] | None = None
    timeout: Annotated[float, Meta(gt=0)] = 60.0
    config: dict[str, Any] = {}
    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)

    def masked_config(self) -> dict[str, Any]:
        """``config`` with credentials masked (every string except api_version and domain)."""
        return {
            key: value if key in PLAIN_CONFIG_KEYS else _mask(value)
            for key, value in self.config.items()
        }

    def _safe_fields(self) -> Iterator[tuple[str, Any]]:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            yield name, self.masked_config() if name == "config" else value

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._safe_fields())
        return f"ModelEntry({fields})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return list(self._safe_fields())


class GatewayConfig(msgspec.Struct, kw_only=True):
    """The loaded configuration: the enabled models and the gateway's own settings."""

    models: list[ModelEntry]
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log_level: str = DEFAULT_LOG_LEVEL
    disabled: list[str] = []  # ids of entries with "enabled": false

    def get(self, model_id: str) -> ModelEntry | None:
        """The enabled entry with id ``model_id``, or ``None``."""
        return next((entry for entry in self.models if entry.id == model_id), None)


class _GatewaySpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The top-level object form, as decoded (entries are validated one by one afterwards)."""

    models: list[Any]
    host: Annotated[str, Meta(min_length=1)] = DEFAULT_HOST
    port: Annotated[int, Meta(ge=1, le=65535)] = DEFAULT_PORT
    log_level: str = DEFAULT_LOG_LEVEL


ConfigSource = str | os.PathLike[str] | bytes | list[Any] | dict[str, Any]

# ------------------------------------------------------------------------------------ loading


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
        cls = registry.get_adapter(entry.adapter)
        if cls is None:
            raise ConfigError(
                _unknown_adapter_message(entry.adapter), model=entry.id, field="adapter"
            )
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
    items, spec = _split_top_level(raw, env)
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
    return GatewayConfig(
        models=enabled,
        host=spec.host,
        port=spec.port,
        log_level=spec.log_level,
        disabled=disabled,
    )


def _split_top_level(raw: Any, env: Mapping[str, str]) -> tuple[list[Any], _GatewaySpec]:
    """The entries and the gateway settings of any of the three accepted shapes."""
    if isinstance(raw, list):
        return raw, _GatewaySpec(models=raw)
    if not isinstance(raw, dict):
        raise ConfigError(
            "the configuration must be a JSON array of model entries or an object with "
            f'"models": [...], not {_json_type(raw)}'
        )
    if "models" not in raw and ("id" in raw or "adapter" in raw):
        return [raw], _GatewaySpec(models=[raw])  # one entry, as printed in the seed guide
    resolver = _EnvResolver(env, _Where())
    data = {
        key: value if key == "models" else resolver.resolve(value, str(key))
        for key, value in raw.items()
    }
    try:
        spec = msgspec.convert(data, _GatewaySpec)
    except msgspec.ValidationError as exc:
        issue = _validation_issue(exc, lambda _path: _GatewaySpec.__struct_fields__)
        if issue.message.startswith("unknown field"):
            allowed = ", ".join(sorted(_GatewaySpec.__struct_fields__))
            message = (
                f"unknown top-level key{issue.message.removeprefix('unknown field')} "
                f"(allowed: {allowed})"
            )
        elif issue.field == "models" and issue.message == "required field is missing":
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
    return spec.models, msgspec.structs.replace(spec, log_level=level)


# ---------------------------------------------------------------------------- one entry

_ENTRY_FIELDS: Final[Mapping[str, Sequence[str]]] = {
    "": ModelEntry.__struct_fields__,
    "retry": RetrySettings.__struct_fields__,
}


@dataclass(frozen=True, slots=True)
class _Where:
    """Which entry an error is about: its id when known, else its index."""

    model: str | None = None
    index: int | None = None

    def error(self, message: str, field: str | None) -> ConfigError:
        index = None if self.model is not None else self.index
        return ConfigError(message, model=self.model, index=index, field=field)


def _parse_entry(item: Any, index: int, env: Mapping[str, str]) -> ModelEntry:
    """Resolve, decode and check one entry (disabled entries: decode only)."""
    where = _Where(index=index)
    if not isinstance(item, dict):
        raise where.error(f"a model entry must be a JSON object, not {_json_type(item)}", None)
    resolver = _EnvResolver(env, where)
    data = dict(item)
    if isinstance(data.get("id"), str):
        data["id"] = resolver.resolve(data["id"], "id")
        if data["id"]:
            where = resolver.where = _Where(model=data["id"])
    if data.get("enabled", True) is not False:
        data = {key: resolver.resolve(value, str(key)) for key, value in data.items()}
    try:
        entry = msgspec.convert(data, ModelEntry, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        issue = _validation_issue(exc, lambda path: _ENTRY_FIELDS.get(path, ()))
        raise where.error(issue.message + resolver.note(issue.field), issue.field) from None
    return _check_entry(entry, where) if entry.enabled else entry


def _check_entry(entry: ModelEntry, where: _Where) -> ModelEntry:
    """What msgspec's schema cannot say; returns the entry with normalised fields."""
    try:
        base_url = normalise_base_url(entry.base_url)
    except ValueError as exc:
        raise where.error(str(exc), "base_url") from None
    if entry.endpoint is not None:
        problem = endpoint_problem(entry.endpoint)
        if problem is not None:
            raise where.error(problem, "endpoint")
    if entry.retry.max_delay < entry.retry.initial_delay:
        raise where.error(
            f"max_delay ({entry.retry.max_delay:g}) must be >= initial_delay "
            f"({entry.retry.initial_delay:g})",
            "retry.max_delay",
        )
    adapter = _normalise_adapter(entry, where)
    return msgspec.structs.replace(entry, base_url=base_url, adapter=adapter)


def _normalise_adapter(entry: ModelEntry, where: _Where) -> str:
    """``websocket`` + a request_format → the built-in adapter; any name must be registered."""
    name = entry.adapter
    supported = ", ".join(repr(fmt) for fmt in REQUEST_FORMATS)
    if name == WEBSOCKET_ADAPTER:
        target = REQUEST_FORMATS.get(entry.request_format or "")
        if target is None:
            if entry.request_format is None:
                message = (
                    "adapter 'websocket' needs request_format to choose the protocol; "
                    f"supported request_format values: {supported}"
                )
            else:
                message = (
                    f"request_format {entry.request_format!r} is not supported by adapter "
                    f"'websocket'; supported request_format values: {supported}"
                )
            raise where.error(message, "request_format")
        name = target
    elif name in REQUEST_FORMATS.values() and entry.request_format is not None:
        expected = next(fmt for fmt, target in REQUEST_FORMATS.items() if target == name)
        if entry.request_format != expected:
            raise where.error(
                f"adapter {name!r} speaks request_format {expected!r}, not "
                f"{entry.request_format!r}",
                "request_format",
            )
    if registry.get_adapter(name) is None:
        raise where.error(_unknown_adapter_message(name), "adapter")
    return name


def _unknown_adapter_message(name: str) -> str:
    known = ", ".join(repr(n) for n in registry.adapter_names())
    formats = ", ".join(repr(fmt) for fmt in REQUEST_FORMATS)
    return (
        f"unknown adapter {name!r}; known adapters: 'websocket' (with request_format "
        f"{formats}), {known}; plug-ins register theirs with register_adapter()"
    )


def normalise_base_url(url: str) -> str:
    """``url`` without trailing slashes, or :class:`ValueError` unless it is a ws(s):// URL."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() not in ("ws", "wss"):
        got = f"its scheme is {parts.scheme!r}" if parts.scheme else "it has no scheme"
        hint = (
            "; the Spark chat API is WebSocket, e.g. wss://spark-api.xf-yun.com"
            if parts.scheme.lower() in ("http", "https")
            else ""
        )
        raise ValueError(f"must be a wss:// or ws:// URL, but {got}{hint}")
    if not parts.hostname:
        raise ValueError("has no host name (expected e.g. wss://spark-api.xf-yun.com)")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query or fragment; put the path in 'endpoint'")
    return text.rstrip("/")


def endpoint_problem(endpoint: str) -> str | None:
    """Why ``endpoint`` is not a usable URL path, or ``None`` when it is."""
    if not endpoint.startswith("/"):
        return "must be a URL path starting with '/', e.g. '/v3.5/chat'"
    if any(char in endpoint for char in "?# \t\r\n"):
        return "must be a plain URL path (no query, fragment or whitespace)"
    return None


# ------------------------------------------------------------------------- ENV: and errors


class _EnvResolver:
    """Replaces ``ENV:NAME`` strings and remembers which field paths came from which variable."""

    def __init__(self, env: Mapping[str, str], where: _Where) -> None:
        self.env = env
        self.where = where
        self.used: dict[str, str] = {}

    def resolve(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self._lookup(value, path) if value.startswith(ENV_PREFIX) else value
        if isinstance(value, dict):
            return {key: self.resolve(item, _join(path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    def _lookup(self, value: str, path: str) -> str:
        name = value[len(ENV_PREFIX) :].strip()
        if not name:
            raise self.where.error("'ENV:' needs a variable name, as in 'ENV:XUNFEI_API_KEY'", path)
        resolved = self.env.get(name)
        if resolved is None:
            raise self.where.error(f"environment variable {name!r} is not set", path)
        if not resolved:
            raise self.where.error(f"environment variable {name!r} is set but empty", path)
        self.used[path] = name
        return resolved

    def note(self, field: str | None) -> str:
        """A hint for an error at ``field`` when its value came from the environment."""
        name = self.used.get(field or "")
        return "" if name is None else f" (the value comes from environment variable {name!r})"


@dataclass(frozen=True, slots=True)
class _Issue:
    field: str | None
    message: str


_UNKNOWN_FIELD: Final = re.compile(r"Object contains unknown field `(?P<name>.*)`")
_MISSING_FIELD: Final = re.compile(r"Object missing required field `(?P<name>.*)`")


def _validation_issue(
    exc: msgspec.ValidationError, known_fields: Callable[[str], Sequence[str]]
) -> _Issue:
    """msgspec's message, with its ``$.a.b`` path turned into the field path ``a.b``.

    ``known_fields(path)`` lists the fields allowed at ``path`` (for "did you mean").
    """
    message, found = split_path(str(exc))
    path = found or ""
    unknown = _UNKNOWN_FIELD.fullmatch(message)
    if unknown is not None:
        name = unknown.group("name")
        return _Issue(_join(path, name), "unknown field" + _did_you_mean(name, known_fields(path)))
    missing = _MISSING_FIELD.fullmatch(message)
    if missing is not None:
        return _Issue(_join(path, missing.group("name")), "required field is missing")
    return _Issue(path or None, message)


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _dec_hook(tp: type, obj: Any) -> Any:
    """Strings become :class:`Secret` for ``Secret`` fields (never echoing the value)."""
    if tp is Secret:
        if isinstance(obj, Secret):
            return obj
        if isinstance(obj, str):
            if not obj.strip():
                raise ValueError("must not be empty")
            return Secret(obj)
        raise TypeError(f"Expected `str`, got `{_json_type(obj)}`")
    raise NotImplementedError(f"no decoder for {tp!r}")


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, as msgspec says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _mask(value: Any) -> Any:
    """``value`` with every string replaced by the mask (containers walked)."""
    if isinstance(value, str):
        return MASK
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


__all__ = [
    "ConfigError",
    "ConfigSource",
    "GatewayConfig",
    "ModelEntry",
    "RetrySettings",
    "build_adapters",
    "decode_json",
    "endpoint_problem",
    "load_config",
    "load_config_file",
    "normalise_base_url",
]
