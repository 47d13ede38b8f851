"""The ``limits`` block: where the gateway keeps its limits, and what happens when it cannot.

Top-level key of the object form of a configuration file::

    "limits": {"backend": "redis", "url": "ENV:REDIS_URL",
               "on_unavailable": "fail_open", "lease_seconds": 30}

* ``backend``: ``"memory"`` (the default: each process keeps its own counts) or ``"redis"``
  (every worker and replica shares them; the ``redis`` extra).
* ``url``: the Redis server (``redis://``, ``rediss://`` or ``unix://``), usually ``ENV:``; it
  may hold a password, so it is a :class:`~asgi_spark.secrets.Secret`.
* ``on_unavailable``: when Redis cannot be reached, ``"fail_open"`` admits requests (with a
  warning) and ``"fail_closed"`` refuses them (503).
* ``lease_seconds``: a concurrency slot held in Redis is a lease, renewed while its request runs;
  a crashed process's slots come back this long after its last renewal.

The limits themselves are per model (``max_concurrency``, ``max_qps``, shared by a
``limit_group``) and per client key (``requests_per_minute``, ``tokens_per_minute``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Final, Literal, Protocol

import msgspec
from msgspec import Meta

from ..secrets import Secret
from .messages import ConfigError

DEFAULT_LEASE_SECONDS: Final = 30.0
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")


class LimitsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Where the limits are kept: this process (``memory``) or Redis, shared by every process."""

    backend: Annotated[
        Literal["memory", "redis"],
        Meta(description='"memory" (per process) or "redis" (shared; the redis extra)'),
    ] = "memory"
    url: Annotated[
        Annotated[Secret, Meta(extra_json_schema={"type": "string", "minLength": 1})] | None,
        Meta(description="the Redis URL (redis://, rediss:// or unix://), usually ENV:REDIS_URL"),
    ] = None
    on_unavailable: Annotated[
        Literal["fail_open", "fail_closed"],
        Meta(description="when Redis is unreachable: admit with a warning, or refuse with 503"),
    ] = "fail_open"
    lease_seconds: Annotated[
        float,
        Meta(gt=0, description="seconds a crashed process's concurrency slots stay taken"),
    ] = DEFAULT_LEASE_SECONDS
    key_prefix: Annotated[
        str, Meta(min_length=1, description="prefix of the gateway's Redis keys")
    ] = "asgi-spark"


def check_limits(settings: LimitsSettings) -> LimitsSettings:
    """The block's rules across fields: a ``redis`` backend needs a ``url`` it can use."""
    if settings.backend == "memory":
        if settings.url is not None:
            raise ConfigError(
                'url is only read by the "redis" backend; set "backend": "redis" or remove it',
                field="limits.url",
            )
        return settings
    if settings.url is None:
        raise ConfigError(
            'the "redis" backend needs "url", e.g. "ENV:REDIS_URL"', field="limits.url"
        )
    scheme = settings.url.reveal().partition("://")[0].lower()
    if scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"the Redis URL must start with {', '.join(s + '://' for s in REDIS_SCHEMES)}",
            field="limits.url",
        )
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the \"redis\" backend needs the redis extra: pip install 'asgi-spark[redis]'",
            field="limits.backend",
        ) from None
    return settings


class _Limited(Protocol):
    """What :func:`model_rates` reads of a model entry."""

    @property
    def id(self) -> str: ...
    @property
    def limit_group(self) -> str | None: ...
    @property
    def limit_key(self) -> str: ...
    @property
    def max_qps(self) -> int | None: ...


def model_rates(entries: Iterable[_Limited]) -> dict[str, int]:
    """``max_qps`` per limiter key (a model id or a ``limit_group``); a group has one value."""
    rates: dict[str, tuple[int, str]] = {}
    for entry in entries:
        if entry.max_qps is None:
            continue
        first = rates.setdefault(entry.limit_key, (entry.max_qps, entry.id))
        if first[0] != entry.max_qps:
            raise ConfigError(
                f"limit_group {entry.limit_group!r} has max_qps {first[0]} in model "
                f"{first[1]!r} and {entry.max_qps} here; the models of a group share one "
                "limit, so give it once or equally",
                model=entry.id,
                field="max_qps",
            )
    return {key: value for key, (value, _model) in rates.items()}


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "LimitsSettings",
    "check_limits",
    "model_rates",
]
