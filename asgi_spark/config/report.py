"""What ``asgi-spark check-config`` says about a configuration's gateway settings: the client
keys by name (never the key), CORS, the request limits, and where the limits are kept (a Redis
URL with its password masked)."""

from __future__ import annotations

from ..secrets import mask_url_password
from .schema import GatewayConfig, pooled_connections


def settings_lines(config: GatewayConfig) -> list[str]:
    """The lines after the models: clients, browser origins, request limits, model limits."""
    return [
        _keys_line(config),
        "browser origins (cors): "
        + ("none" if config.cors is None else ", ".join(config.cors.allow_origins)),
        f"request limits: header_timeout {config.header_timeout:g} s, body_timeout "
        f"{config.body_timeout:g} s, max_connections "
        + ("none" if config.max_connections is None else str(config.max_connections)),
        *_model_limit_lines(config),
        _store_line(config),
    ]


def _keys_line(config: GatewayConfig) -> str:
    if config.api_keys is None:
        return "clients: no key needed (without api_keys the API is open to whoever reaches it)"
    described = []
    for key in config.api_keys:
        notes = [] if key.models is None else [", ".join(sorted(key.models))]
        if key.requests_per_minute is not None:
            notes.append(f"{key.requests_per_minute} requests/min")
        if key.tokens_per_minute is not None:
            notes.append(f"{key.tokens_per_minute} tokens/min")
        described.append(key.name + (f" ({'; '.join(notes)})" if notes else ""))
    return f"clients: {len(config.api_keys)} key(s): {', '.join(described)}"


def _model_limit_lines(config: GatewayConfig) -> list[str]:
    lines = []
    for entry in config.models:
        parts = []
        if entry.max_concurrency is not None:
            parts.append(f"max_concurrency {entry.max_concurrency}")
        if entry.max_qps is not None:
            parts.append(f"max_qps {entry.max_qps}")
        if parts:
            group = f" (limit_group {entry.limit_group})" if entry.limit_group else ""
            wait = f"queue_timeout {entry.queue_timeout:g} s"
            lines.append(f"model limits: {entry.id}{group}: {', '.join([*parts, wait])}")
    return lines


def _store_line(config: GatewayConfig) -> str:
    limits = config.limits
    if limits.backend == "memory":
        return "limits kept: in each process (memory)"
    url = mask_url_password(limits.url.reveal()) if limits.url is not None else "?"
    return (
        f"limits kept: in redis at {url}, shared by every process (on_unavailable "
        f"{limits.on_unavailable}, lease_seconds {limits.lease_seconds:g}, key_prefix "
        f"{limits.key_prefix})"
    )


def shared_pool_warnings(config: GatewayConfig, workers: int) -> list[str]:
    """With ``workers`` processes on shared (Redis) limits, the limits whose idle pooled
    connections could hold every slot: a request takes over an idle connection only in its
    own process, so requests on one process could wait for slots another's idle pool holds."""
    if config.limits.backend != "redis" or workers < 2:
        return []
    pooled = pooled_connections(config.models)
    return [
        f"warning: with {workers} workers sharing the limits, the pools of {key!r} keep "
        f"{workers} x {pooled[key]} connections open, not fewer than its max_concurrency "
        f"({limit}): idle pooled connections of one worker can hold every slot while requests "
        "on another wait; lower pool.size or raise max_concurrency"
        for key, limit in config.capacities().items()
        if pooled.get(key) and workers * pooled[key] >= limit
    ]


__all__ = ["settings_lines", "shared_pool_warnings"]
