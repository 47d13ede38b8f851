"""The JSON model registry: model entries and gateway settings, typed, loaded and explained.

* :mod:`.schema`: the msgspec Structs (the file, a model entry, its ``retry`` and ``timeouts``
  blocks) and the :data:`~.schema.SecretStr` field type;
* :mod:`.load`: reading a file, the three top-level shapes, ``ENV:`` (:mod:`.env`), checking
  entries (:mod:`.urls`), converting each ``config`` block into its adapter's type
  (:mod:`.typed`), building the adapters;
* :mod:`.messages`: :class:`ConfigError` and msgspec's errors in words naming model and field;
* :mod:`.json_schema`: the JSON Schema of the whole file, generated from those types.
"""

from __future__ import annotations

from .drain import DrainSettings
from .env import ENV_PREFIX
from .json_schema import config_schema
from .load import ConfigSource, build_adapters, decode_json, load_config, load_config_file
from .messages import ConfigError
from .schema import (
    DEFAULT_HOST,
    DEFAULT_LOG_LEVEL,
    DEFAULT_PORT,
    LOG_LEVELS,
    AccessLogSettings,
    ConfigFile,
    GatewayConfig,
    ModelEntry,
    PoolSettings,
    RetrySettings,
    SecretStr,
    TimeoutSettings,
)
from .security import ClientKey, CorsSettings
from .typed import adapter_config
from .urls import endpoint_problem, normalise_base_url, normalise_proxy

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_PORT",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "AccessLogSettings",
    "ClientKey",
    "ConfigError",
    "ConfigFile",
    "ConfigSource",
    "CorsSettings",
    "DrainSettings",
    "GatewayConfig",
    "ModelEntry",
    "PoolSettings",
    "RetrySettings",
    "SecretStr",
    "TimeoutSettings",
    "adapter_config",
    "build_adapters",
    "config_schema",
    "decode_json",
    "endpoint_problem",
    "load_config",
    "load_config_file",
    "normalise_base_url",
    "normalise_proxy",
]
