"""The ``limits`` block, ``max_qps`` and the keys' per-minute limits in a configuration: what
loads, and the exact error of each bad value (never showing the Redis URL's password)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from asgi_spark.config import ConfigError, load_config
from asgi_spark.secrets import Secret
from tests.e2e.server import spark_entry

PASSWORD = "hunter2-redis"


def load(*entries: dict[str, Any], env: dict[str, str] | None = None, **settings: Any) -> Any:
    models = list(entries) or [spark_entry("m", "ws://127.0.0.1:1")]
    return load_config({"models": models, **settings}, env=env or {})


def test_defaults_are_memory_and_fail_open() -> None:
    limits = load().limits
    assert (limits.backend, limits.url, limits.on_unavailable, limits.lease_seconds) == (
        "memory",
        None,
        "fail_open",
        30.0,
    )


def test_a_redis_block_from_the_environment() -> None:
    url = f"redis://:{PASSWORD}@redis.internal:6379/0"
    config = load(
        env={"REDIS_URL": url},
        limits={
            "backend": "redis",
            "url": "ENV:REDIS_URL",
            "on_unavailable": "fail_closed",
            "lease_seconds": 5,
        },
    )
    limits = config.limits
    assert limits.url == Secret(url) and limits.url.reveal() == url
    assert (limits.on_unavailable, limits.lease_seconds) == ("fail_closed", 5)
    assert PASSWORD not in repr(config) and PASSWORD not in repr(limits)


def test_max_qps_and_key_limits_load() -> None:
    config = load(
        spark_entry("m", "ws://127.0.0.1:1", max_qps=2),
        api_keys=[{"key": "sk-a", "name": "a", "requests_per_minute": 60, "tokens_per_minute": 9}],
    )
    assert config.models[0].max_qps == 2
    key = config.api_keys[0]
    assert (key.requests_per_minute, key.tokens_per_minute) == (60, 9)


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            {"limits": {"backend": "redis"}},
            "limits.url",
            'the "redis" backend needs "url", e.g. "ENV:REDIS_URL"',
        ),
        (
            {"limits": {"backend": "redis", "url": f"http://:{PASSWORD}@host"}},
            "limits.url",
            "the Redis URL must start with redis://, rediss://, unix://",
        ),
        (
            {"limits": {"url": "redis://host"}},
            "limits.url",
            'url is only read by the "redis" backend; set "backend": "redis" or remove it',
        ),
        (
            {"limits": {"backend": "etcd"}},
            "limits.backend",
            "Invalid enum value 'etcd' "
            '("memory" (per process) or "redis" (shared; the redis extra))',
        ),
        (
            {"limits": {"on_unavailable": "retry"}},
            "limits.on_unavailable",
            "Invalid enum value 'retry' "
            "(when Redis is unreachable: admit with a warning, or refuse with 503)",
        ),
        ({"limits": {"lease_seconds": 0}}, "limits.lease_seconds", "Expected `float` > 0"),
        (
            {"limits": {"backend": "redis", "url": "ENV:NO_SUCH_VAR"}},
            "limits.url",
            "environment variable 'NO_SUCH_VAR' is not set",
        ),
    ],
)
def test_bad_limits_blocks(settings: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**settings)
    assert info.value.field == field
    assert info.value.message.startswith(message), info.value.message
    assert PASSWORD not in str(info.value)


def test_an_unknown_key_of_the_block_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load(limits={"backend": "memory", "lease": 3})
    assert info.value.field == "limits.lease"
    assert "allowed: backend, key_prefix, lease_seconds, on_unavailable, url" in str(info.value)


def test_max_qps_must_be_positive() -> None:
    with pytest.raises(ConfigError) as info:
        load(spark_entry("m", "ws://127.0.0.1:1", max_qps=0))
    assert (info.value.model, info.value.field) == ("m", "max_qps")
    assert "Expected `int` >= 1" in info.value.message


def test_a_limit_group_has_one_max_qps() -> None:
    with pytest.raises(ConfigError) as info:
        load(
            spark_entry("a", "ws://127.0.0.1:1", limit_group="g", max_qps=2),
            spark_entry("b", "ws://127.0.0.1:1", limit_group="g", max_qps=3),
        )
    assert (info.value.model, info.value.field) == ("b", "max_qps")
    assert info.value.message == (
        "limit_group 'g' has max_qps 2 in model 'a' and 3 here; the models of a group share "
        "one limit, so give it once or equally"
    )


@pytest.mark.parametrize("field", ["requests_per_minute", "tokens_per_minute"])
def test_key_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(api_keys=[{"key": "sk-a", field: 0}])
    assert info.value.field == f"api_keys[0].{field}"
    assert "Expected `int` >= 1" in info.value.message


def test_the_redis_backend_needs_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # as if not installed
    with pytest.raises(ConfigError) as info:
        load(limits={"backend": "redis", "url": "redis://127.0.0.1:6379/0"})
    assert info.value.field == "limits.backend"
    assert info.value.message == (
        "the \"redis\" backend needs the redis extra: pip install 'asgi-spark[redis]'"
    )


def test_serve_warns_when_the_workers_pools_could_hold_every_shared_slot() -> None:
    from asgi_spark.config.report import shared_pool_warnings

    entry = spark_entry("m", "ws://127.0.0.1:1", max_concurrency=4, pool={"size": 2})
    shared = {"backend": "redis", "url": "redis://127.0.0.1:6379/0"}
    config = load(entry, limits=shared)
    assert shared_pool_warnings(config, 1) == []  # one process: check-config's rule holds
    assert shared_pool_warnings(config, 2) == [
        "warning: with 2 workers sharing the limits, the pools of 'm' keep 2 x 2 connections "
        "open, not fewer than its max_concurrency (4): idle pooled connections of one worker "
        "can hold every slot while requests on another wait; lower pool.size or raise "
        "max_concurrency"
    ]
    assert shared_pool_warnings(load(entry), 2) == []  # per-process limits: no sharing
