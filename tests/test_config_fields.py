"""The entry fields added with the typed config (asgi_spark/config/schema.py, urls.py, typed.py):
``timeouts``, ``proxy``, the ``$schema`` key, typed ``config`` blocks and their masking."""

from __future__ import annotations

import importlib.util
from typing import Any

import msgspec
import pytest

from asgi_spark.adapters.base import Timeouts
from asgi_spark.adapters.spark.settings import SparkConfig
from asgi_spark.config import (
    ConfigError,
    ModelEntry,
    TimeoutSettings,
    adapter_config,
    load_config,
    normalise_proxy,
)
from asgi_spark.secrets import Secret
from tests.test_config import ENV, SECRETS, assert_names, entry, error_of, load

# ---------------------------------------------------------------------------- timeouts


def test_timeouts_default_to_unset_and_the_scalar_supplies_them() -> None:
    model = load(entry(timeout=30)).models[0]
    assert model.timeouts == TimeoutSettings()
    assert model.effective_timeouts() == TimeoutSettings(
        connect=10, acquire=30, first_frame=30, idle=30, total=600, close=2
    )


@pytest.mark.parametrize(
    ("timeout", "connect", "total"), [(0.5, 0.5, 600.0), (60, 10.0, 600.0), (120, 10.0, 1200.0)]
)
def test_the_scalar_timeout_keeps_its_meaning(timeout: float, connect: float, total: float) -> None:
    model = load(entry(timeout=timeout)).models[0]
    slots = model.effective_timeouts()
    assert (slots.connect, slots.first_frame, slots.idle, slots.total) == (
        connect,
        timeout,
        timeout,
        total,
    )
    old = Timeouts.for_entry(model)  # the connector's reading is unchanged
    assert (old.connect, old.first_frame, old.idle, old.total) == (connect, timeout, timeout, total)


def test_explicit_slots_win_over_the_scalar() -> None:
    slots = {"connect": 3, "acquire": 1.5, "first_frame": 90, "idle": 20, "total": 900, "close": 1}
    model = load(entry(timeout=60, timeouts=slots)).models[0]
    assert model.timeouts == TimeoutSettings(**slots)
    assert model.effective_timeouts() == TimeoutSettings(**slots)
    partial = load(entry(timeout=5, timeouts={"idle": 30})).models[0].effective_timeouts()
    assert (partial.connect, partial.idle, partial.first_frame) == (5, 30, 5)


@pytest.mark.parametrize(
    ("timeouts", "field", "fragment"),
    [
        ({"idle": 0}, "timeouts.idle", "Expected `float` > 0.0 (between two upstream frames)"),
        ({"total": -1}, "timeouts.total", "> 0.0"),
        ({"connect": "5"}, "timeouts.connect", "got `str`"),
        ({"frist_frame": 5}, "timeouts.frist_frame", "did you mean 'first_frame'?"),
        ([5], "timeouts", "Expected `object`"),
    ],
)
def test_bad_timeouts(timeouts: Any, field: str, fragment: str) -> None:
    assert_names(error_of(entry(timeouts=timeouts)), "spark", field, fragment)


def test_a_timeout_from_the_environment_says_so() -> None:
    err = error_of(entry(timeouts={"idle": "ENV:IDLE"}), env={**ENV, "IDLE": "5"})
    assert_names(err, "spark", "timeouts.idle", "environment variable 'IDLE'")


# ------------------------------------------------------------------------------- proxy


@pytest.mark.parametrize(
    ("proxy", "stored"),
    [
        (None, None),
        ("auto", "auto"),
        (" AUTO ", "auto"),
        ("http://proxy.internal:3128", "http://proxy.internal:3128"),
        ("https://proxy.internal/", "https://proxy.internal"),
    ],
)
def test_proxy_values(proxy: str | None, stored: str | None) -> None:
    data = entry()
    data["proxy"] = proxy
    assert load(data).models[0].proxy == stored


def test_proxy_defaults_to_auto() -> None:
    assert load(entry()).models[0].proxy == "auto"


@pytest.mark.parametrize(
    ("proxy", "fragment"),
    [
        ("ftp://proxy:21", "its scheme is 'ftp'"),
        ("proxy.internal:3128", "it has no scheme"),
        ("me:secret@proxy.internal:3128", "it has no scheme"),
        ("http://", "no host name"),
        ("http://proxy:3128/path", "without a path"),
        ("http://proxy:port", "not a valid URL"),
        ("", "it has no scheme"),
    ],
)
def test_bad_proxy(proxy: str, fragment: str) -> None:
    assert_names(error_of(entry(proxy=proxy)), "spark", "proxy", fragment)


def test_socks_proxy_needs_python_socks(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "python_socks" else real(name)
    )
    err = error_of(entry(proxy="socks5://127.0.0.1:1080"))
    assert_names(err, "spark", "proxy", "python-socks")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert normalise_proxy("socks5h://127.0.0.1:1080") == "socks5h://127.0.0.1:1080"


def test_a_proxy_password_is_never_shown() -> None:
    password = "proxy-password-VERY-RECOGNISABLE"
    model = load(entry(proxy=f"http://me:{password}@proxy.internal:3128")).models[0]
    assert model.proxy == f"http://me:{password}@proxy.internal:3128"  # kept for connecting
    assert password not in repr(model)
    assert "http://me:****@proxy.internal:3128" in repr(model)
    err = error_of(entry(proxy=f"ftp://me:{password}@proxy.internal"))
    assert password not in str(err)


def test_a_disabled_entry_may_have_any_proxy() -> None:
    config = load(entry(), entry(id="off", enabled=False, proxy="ftp://x"))
    assert config.disabled == ["off"]


# ---------------------------------------------------------------------------- $schema


def test_the_object_form_may_name_its_schema() -> None:
    config = load_config({"$schema": "./asgi-spark.schema.json", "models": [entry()]}, env=ENV)
    assert [m.id for m in config.models] == ["spark"]


def test_schema_key_must_be_a_string() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"$schema": 3, "models": [entry()]}, env=ENV)
    assert_names(info.value, None, "$schema", "got `int`")


# ----------------------------------------------------------------------- typed config


def spark_block(**extra: Any) -> dict[str, Any]:
    return {"app_id": "ENV:XUNFEI_APP_ID", "api_secret": "ENV:XUNFEI_API_SECRET", **extra}


def test_the_loader_stores_the_adapter_s_type() -> None:
    model = load(entry(config=spark_block(api_version="v4.0", top_k=3))).models[0]
    assert isinstance(model.config, SparkConfig)
    assert (model.config.api_version, model.config.domain, model.config.top_k) == ("v4.0", None, 3)
    assert isinstance(model.config.app_id, Secret)


def test_masking_follows_the_secret_type() -> None:
    model = load(entry(config=spark_block(domain="generalv3.5", top_k=2))).models[0]
    assert model.masked_config() == {
        "app_id": "****",
        "api_secret": "****",
        "domain": "generalv3.5",
        "top_k": 2,
    }
    for text in (repr(model), repr(model.__rich_repr__())):
        for secret in SECRETS:
            assert secret not in text


def test_an_untyped_block_masks_every_string() -> None:
    model = ModelEntry(
        id="m",
        adapter="x",
        base_url="ws://h",
        api_key=Secret("k"),
        config={"token": "t0ken", "n": 3, "nested": ["a"]},
    )
    assert model.masked_config() == {"token": "****", "n": 3, "nested": ["****"]}


class Token:
    """A plug-in's own value type, unknown to msgspec."""

    def __init__(self, value: str) -> None:
        self.value = value


class PluginConfig(msgspec.Struct):
    token: Token
    key: Secret


def test_a_typed_block_with_a_foreign_type_is_shown_by_type_name_only() -> None:
    model = ModelEntry(
        id="m",
        adapter="x",
        base_url="ws://h",
        api_key=Secret("k"),
        config=PluginConfig(Token("t0ken-value"), Secret("s3cret")),
    )
    assert model.masked_config() == {"token": "<Token>", "key": "****"}
    assert "t0ken-value" not in repr(model) and "s3cret" not in repr(model)


def test_adapter_config_converts_a_hand_built_entry() -> None:
    model = ModelEntry(
        id="m",
        adapter="websocket_xunfei",
        base_url="ws://h",
        api_key=Secret("k"),
        config={"app_id": "a", "api_secret": "s", "top_k": 2},
    )
    config = adapter_config(model, SparkConfig)
    assert (config.app_id, config.top_k) == (Secret("a"), 2)
    loaded = msgspec.structs.replace(model, config=config)
    assert adapter_config(loaded, SparkConfig) is config
    with pytest.raises(ConfigError) as info:
        adapter_config(msgspec.structs.replace(model, config={"app_id": "a"}), SparkConfig)
    assert_names(info.value, "m", "config.api_secret", "required field is missing")


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        (spark_block(top_k="ENV:TOP_K"), "config.top_k", "environment variable 'TOP_K'"),
        (spark_block(top_k=9), "config.top_k", "an integer from 1 to 6"),
        (spark_block(api_verison="v3.5"), "config.api_verison", "did you mean 'api_version'?"),
        ({"api_secret": "s"}, "config.app_id", "required field is missing (the APPID"),
    ],
)
def test_typed_block_errors_in_the_loader_s_words(
    block: dict[str, Any], field: str, fragment: str
) -> None:
    err = error_of(entry(config=block), env={**ENV, "TOP_K": "3"})
    assert_names(err, "spark", field, fragment)


def test_a_disabled_entry_s_block_is_only_checked_to_be_an_object() -> None:
    off = entry(id="off", enabled=False, config={"anything": "ENV:ABSENT"})
    assert load(entry(), off).disabled == ["off"]
    err = error_of(entry(), entry(id="off", enabled=False, config=[1]))
    assert_names(err, "off", "config", "Expected `object`, got `array`")
