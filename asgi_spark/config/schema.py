"""The configuration's types: msgspec Structs for the file, a model entry and its blocks.

These types are the schema: the loader converts JSON into them, their ``Meta`` constraints and
descriptions are the validation rules and the words of its errors, and ``asgi-spark schema``
prints the JSON Schema generated from them (with each adapter's ``config`` type, see
:mod:`.json_schema`), so the three cannot drift apart.

Credentials are :data:`SecretStr` fields (a :class:`~asgi_spark.secrets.Secret` read from a
non-empty JSON string); ``repr`` and :meth:`ModelEntry.masked_config` mask every ``Secret``, so
no vendor's list of credential names lives in generic code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta

from ..secrets import MASK, Secret, mask_url_password
from .drain import DrainSettings
from .limits import LimitsSettings
from .messages import json_type
from .security import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    ApiKeyItem,
    ClientKey,
    CorsSettings,
)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
DEFAULT_LOG_LEVEL: Final = "info"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")
#: The seed's ``timeout`` when an entry has none (seconds).
DEFAULT_TIMEOUT: Final = 60.0
#: How long a request may wait for a concurrency slot by default (seconds).
DEFAULT_QUEUE_TIMEOUT: Final = 5.0
#: The default of the ``close`` slot: how long closing a connection may wait for the peer.
DEFAULT_CLOSE_TIMEOUT: Final = 2.0
#: Spark drops a connection that has been idle this long (seconds); a pool's ``max_idle`` must
#: stay below it.
SPARK_IDLE_DROP: Final = 60.0
#: The default ``max_idle`` of a pool (seconds).
DEFAULT_POOL_MAX_IDLE: Final = 50.0
#: The Responses API store's defaults: how many responses, for how long (seconds).
DEFAULT_STORE_ITEMS: Final = 1000
DEFAULT_STORE_TTL: Final = 3600.0
#: Proxy schemes a model's ``proxy`` URL may use (what ``websockets`` connects through).
PROXY_SCHEMES: Final = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")

#: A credential: a non-empty JSON string, held as a :class:`Secret` (masked in every repr).
SecretStr = Annotated[Secret, Meta(extra_json_schema={"type": "string", "minLength": 1})]
#: A positive number of seconds.
Seconds = Annotated[float, Meta(gt=0)]

_PROXY_PATTERN: Final = "^(auto|(" + "|".join(PROXY_SCHEMES) + ")://.+)$"


def dec_hook(tp: type, obj: Any) -> Any:
    """Strings become :class:`Secret` for ``Secret`` fields (never echoing the value)."""
    if tp is Secret:
        if isinstance(obj, Secret):
            return obj
        if isinstance(obj, str):
            if not obj.strip():
                raise ValueError("must not be empty")
            return Secret(obj)
        raise TypeError(f"Expected `str`, got `{json_type(obj)}`")
    raise NotImplementedError(f"no decoder for {tp!r}")


class RetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The seed's retry block: attempts after a retryable failure, with exponential backoff."""

    enabled: bool = False
    max_retries: Annotated[int, Meta(ge=0, description="retries after the first attempt")] = 3
    initial_delay: Annotated[float, Meta(ge=0, description="seconds before the first retry")] = 1.0
    max_delay: Annotated[float, Meta(ge=0, description="the longest delay, in seconds")] = 30.0
    exponential_base: Annotated[float, Meta(ge=1, description="delay growth per retry")] = 2.0
    jitter: bool = True


class TimeoutSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Per-phase time limits in seconds.  A slot left out takes its default from the entry's
    scalar timeout t: connect min(10, t), acquire t, first_frame t, idle t, total max(10 t, 600),
    close 2."""

    connect: Annotated[Seconds | None, Meta(description="TCP, TLS and WebSocket handshake")] = None
    acquire: Annotated[Seconds | None, Meta(description="waiting for a connection slot")] = None
    first_frame: Annotated[
        Seconds | None, Meta(description="from sending the request to the first frame")
    ] = None
    idle: Annotated[Seconds | None, Meta(description="between two upstream frames")] = None
    total: Annotated[Seconds | None, Meta(description="the whole exchange")] = None
    close: Annotated[Seconds | None, Meta(description="closing the connection")] = None

    def with_defaults(self, timeout: float) -> TimeoutSettings:
        """Every slot set: those left out take the defaults the scalar ``timeout`` gives."""

        def pick(value: float | None, default: float) -> float:
            return default if value is None else value

        return TimeoutSettings(
            connect=pick(self.connect, min(10.0, timeout)),
            acquire=pick(self.acquire, timeout),
            first_frame=pick(self.first_frame, timeout),
            idle=pick(self.idle, timeout),
            total=pick(self.total, max(10 * timeout, 600.0)),
            close=pick(self.close, DEFAULT_CLOSE_TIMEOUT),
        )


class PoolSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A warm pool of upstream connections, opened and signed ahead of demand so a request
    skips the connection setup.  Each is used once; pooled connections count against
    max_concurrency."""

    size: Annotated[
        int, Meta(ge=0, description="connections kept open ahead of demand; 0 turns the pool off")
    ] = 0
    max_idle: Annotated[
        float,
        Meta(
            gt=0,
            lt=SPARK_IDLE_DROP,
            description="seconds an unused connection is kept, below Spark's 60 s idle drop",
        ),
    ] = DEFAULT_POOL_MAX_IDLE


class ResponsesStoreSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The Responses API's store (``previous_response_id``): in memory, per gateway process."""

    max_items: Annotated[
        int, Meta(ge=0, description="stored responses at most (the oldest go first); 0: none")
    ] = DEFAULT_STORE_ITEMS
    ttl: Annotated[Seconds, Meta(description="seconds a stored response can be continued")] = (
        DEFAULT_STORE_TTL
    )


class ModelEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One served model, in the seed guide's format."""

    id: Annotated[str, Meta(min_length=1, description="the model name clients send")]
    adapter: Annotated[
        str,
        Meta(description='"websocket_xunfei", or "websocket" with request_format "xunfei"'),
    ]
    base_url: Annotated[str, Meta(description="wss:// or ws:// URL of the upstream")]
    api_key: Annotated[SecretStr, Meta(description="the API key (Spark: the app's APIKey)")]
    enabled: bool = True
    model: Annotated[str | None, Meta(description="a display name")] = None
    endpoint: Annotated[str | None, Meta(description="URL path, e.g. /v3.5/chat")] = None
    request_format: str | None = None
    response_format: Literal["openai"] | None = None
    temperature: Annotated[float | None, Meta(description="default when a request has none")] = None
    max_tokens: Annotated[
        Annotated[int, Meta(ge=1)] | None, Meta(description="default answer budget")
    ] = None
    timeout: Annotated[
        Seconds,
        Meta(description="seconds to connect, at most 10, and to wait for each frame"),
    ] = DEFAULT_TIMEOUT
    timeouts: TimeoutSettings = msgspec.field(default_factory=TimeoutSettings)
    proxy: Annotated[
        Annotated[str, Meta(extra_json_schema={"pattern": _PROXY_PATTERN})] | None,
        Meta(
            description='"auto" (the standard proxy environment variables), a proxy URL, '
            "or null for none"
        ),
    ] = "auto"
    config: Annotated[
        Any, Meta(description="the adapter's settings", extra_json_schema={"type": "object"})
    ] = msgspec.field(default_factory=dict)
    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    strict_params: Annotated[
        bool,
        Meta(description="refuse request fields the model would ignore, instead of ignoring them"),
    ] = False
    max_n: Annotated[
        int, Meta(ge=1, le=16, description="the largest n (answers per request) accepted")
    ] = 4
    structured_retries: Annotated[
        int,
        Meta(ge=0, le=5, description="re-asks when an answer does not fit response_format"),
    ] = 1
    fallbacks: Annotated[
        list[Annotated[str, Meta(min_length=1)]],
        Meta(description="ids of models to try, in order, when this one fails retryably"),
    ] = msgspec.field(default_factory=list)
    max_concurrency: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="upstream sessions at once (Spark grants a fixed number)"),
    ] = None
    queue_timeout: Annotated[
        float,
        Meta(ge=0, description="seconds a request may wait for a free session; 0 refuses at once"),
    ] = DEFAULT_QUEUE_TIMEOUT
    limit_group: Annotated[
        Annotated[str, Meta(min_length=1)] | None,
        Meta(description="models with the same group share one max_concurrency and max_qps"),
    ] = None
    max_qps: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="upstream requests started per rolling second (Spark's QPS grant)"),
    ] = None
    pool: PoolSettings = msgspec.field(default_factory=PoolSettings)

    # ``config`` holds an instance of the adapter's config type once the loader has checked an
    # enabled entry (for example ``SparkConfig``), and the JSON object as written otherwise
    # (disabled entries, adapters that declare no config type, entries built by hand).

    @property
    def limit_key(self) -> str:
        """The limiter key of this model: its ``limit_group``, else its id."""
        return self.limit_group or self.id

    def effective_timeouts(self) -> TimeoutSettings:
        """``timeouts`` with every slot set (defaults from the scalar ``timeout``)."""
        return self.timeouts.with_defaults(self.timeout)

    def masked_config(self) -> dict[str, Any]:
        """``config`` safe to show: every :class:`Secret` in a typed config is ``****``; in an
        untyped one (a plain JSON object) every string is, since nothing says which are
        credentials."""
        if isinstance(self.config, msgspec.Struct):
            shown: dict[str, Any] = msgspec.to_builtins(self.config, enc_hook=_masked_secret)
            return shown
        masked: dict[str, Any] = _mask(self.config)
        return masked

    def _safe_fields(self) -> Iterator[tuple[str, Any]]:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name == "config":
                value = self.masked_config()
            elif name == "proxy" and isinstance(value, str):
                value = mask_url_password(value)
            yield name, value

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._safe_fields())
        return f"ModelEntry({fields})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return list(self._safe_fields())


class AccessLogSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The access log: one line per request on the ``asgi_spark.access`` logger."""

    format: Annotated[
        Literal["plain", "json"],
        Meta(description='"plain" (key=value pairs) or "json" (one JSON object per line)'),
    ] = "plain"
    include_content: Annotated[
        bool, Meta(description="also log the request's messages and the answer's text")
    ] = False


class GatewayConfig(msgspec.Struct, kw_only=True):
    """The loaded configuration: the enabled models and the gateway's own settings."""

    models: list[ModelEntry]
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    log_level: str = DEFAULT_LOG_LEVEL
    access_log: AccessLogSettings = msgspec.field(default_factory=AccessLogSettings)
    responses_store: ResponsesStoreSettings = msgspec.field(default_factory=ResponsesStoreSettings)
    disabled: list[str] = []  # ids of entries with "enabled": false
    #: ``None``: no key is needed (see :mod:`asgi_spark.access`).
    api_keys: tuple[ClientKey, ...] | None = None
    #: ``None``: no CORS headers, no preflight (see :mod:`asgi_spark.cors`).
    cors: CorsSettings | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_connections: int | None = None
    drain: DrainSettings = DrainSettings()
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)

    def get(self, model_id: str) -> ModelEntry | None:
        """The enabled entry with id ``model_id``, or ``None``."""
        return next((entry for entry in self.models if entry.id == model_id), None)

    def capacities(self) -> dict[str, int]:
        """``max_concurrency`` per limiter key (a model id or a ``limit_group``)."""
        return {
            entry.limit_key: entry.max_concurrency
            for entry in self.models
            if entry.max_concurrency is not None
        }


def pooled_connections(entries: Iterable[ModelEntry]) -> dict[str, int]:
    """The connections the warm pools keep open, per limiter key (they hold its slots)."""
    pooled: dict[str, int] = {}
    for entry in entries:
        pooled[entry.limit_key] = pooled.get(entry.limit_key, 0) + entry.pool.size
    return pooled


EntryT = TypeVar("EntryT")


class ConfigFile(msgspec.Struct, Generic[EntryT], kw_only=True, forbid_unknown_fields=True):
    """The object form of a configuration file: the models and the gateway's settings."""

    models: list[EntryT]
    schema_url: Annotated[
        str | None, Meta(description="the JSON Schema of this file (read by editors)")
    ] = msgspec.field(default=None, name="$schema")
    host: Annotated[str, Meta(min_length=1, description="address to listen on")] = DEFAULT_HOST
    port: Annotated[int, Meta(ge=1, le=65535, description="port to listen on")] = DEFAULT_PORT
    log_level: Annotated[str, Meta(description=f"one of {', '.join(LOG_LEVELS)} (any case)")] = (
        DEFAULT_LOG_LEVEL
    )
    access_log: AccessLogSettings = msgspec.field(default_factory=AccessLogSettings)
    api_keys: Annotated[
        list[ApiKeyItem] | None,
        Meta(
            description="keys clients must send as Authorization: Bearer <key>: each the key, "
            'or {"key", "name", "models"}; without it the API needs no key'
        ),
    ] = None
    cors: Annotated[
        CorsSettings | None,
        Meta(description="browser origins allowed to call the API (default: none)"),
    ] = None
    header_timeout: Annotated[
        Seconds,
        Meta(description="asgi-spark serve: seconds to receive a request's headers"),
    ] = DEFAULT_HEADER_TIMEOUT
    body_timeout: Annotated[
        Seconds, Meta(description="seconds to receive a request's whole body")
    ] = DEFAULT_BODY_TIMEOUT
    max_connections: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="asgi-spark serve: connections and requests at once; beyond, a 503"),
    ] = None
    responses_store: ResponsesStoreSettings = msgspec.field(default_factory=ResponsesStoreSettings)
    drain: DrainSettings = DrainSettings()
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)


def _masked_secret(value: Any) -> Any:
    """How a typed config shows a value msgspec cannot: a Secret masked, any other type by
    its name only (a repr must never fail, nor show what a plug-in's own type holds)."""
    if isinstance(value, Secret):
        return value.masked()
    return f"<{type(value).__name__}>"


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
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_HOST",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_POOL_MAX_IDLE",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "LOG_LEVELS",
    "PROXY_SCHEMES",
    "SPARK_IDLE_DROP",
    "AccessLogSettings",
    "ConfigFile",
    "GatewayConfig",
    "ModelEntry",
    "PoolSettings",
    "ResponsesStoreSettings",
    "RetrySettings",
    "Seconds",
    "SecretStr",
    "TimeoutSettings",
    "dec_hook",
    "mask_url_password",
    "pooled_connections",
]
