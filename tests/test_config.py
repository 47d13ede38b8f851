"""Loading and validating the JSON model registry (asgi_spark.config)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest

from asgi_spark import registry
from asgi_spark.adapters.base import Adapter
from asgi_spark.adapters.spark.settings import SparkConfig
from asgi_spark.config import (
    ConfigError,
    GatewayConfig,
    ModelEntry,
    RetrySettings,
    build_adapters,
    load_config,
    load_config_file,
)
from asgi_spark.events import Event
from asgi_spark.openai_types import ChatCompletionRequest
from asgi_spark.secrets import Secret

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED_GUIDE = EXAMPLES / "seed-guide.json"
SPARK_EXAMPLE = EXAMPLES / "spark.json"

API_KEY = "api-key-VERY-RECOGNISABLE-0001"
APP_ID = "app-id-VERY-RECOGNISABLE-0002"
API_SECRET = "api-secret-VERY-RECOGNISABLE-0003"
ENV = {"XUNFEI_API_KEY": API_KEY, "XUNFEI_APP_ID": APP_ID, "XUNFEI_API_SECRET": API_SECRET}
SECRETS = (API_KEY, APP_ID, API_SECRET)


def entry(**overrides: Any) -> dict[str, Any]:
    """A valid Spark entry in the seed's format; ``overrides`` replace or (with None) drop keys."""
    data: dict[str, Any] = {
        "id": "spark",
        "adapter": "websocket",
        "base_url": "wss://spark-api.xf-yun.com",
        "api_key": "ENV:XUNFEI_API_KEY",
        "endpoint": "/v3.5/chat",
        "request_format": "xunfei",
        "config": {"app_id": "ENV:XUNFEI_APP_ID", "api_secret": "ENV:XUNFEI_API_SECRET"},
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def load(*entries: dict[str, Any], env: dict[str, str] | None = None) -> GatewayConfig:
    return load_config(list(entries), env=ENV if env is None else env)


def error_of(*entries: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(*entries, env=env)
    return info.value


def assert_names(err: ConfigError, model: str | None, field: str | None, *fragments: str) -> None:
    """The error is attributed to ``model`` and ``field``, and its text says so."""
    text = str(err)
    assert err.model == model, text
    assert err.field == field, text
    if model is not None:
        assert f"model {model!r}" in text
    if field is not None:
        assert f"field {field!r}" in text
    for fragment in fragments:
        assert fragment in text, text
    for secret in SECRETS:
        assert secret not in text
        assert secret not in repr(err)


class FakeAdapter(Adapter):
    """Accepts any entry; refuses one whose config asks it to."""

    name = "fake"

    def __init__(self, entry: ModelEntry) -> None:
        super().__init__(entry)
        refuse = entry.config.get("refuse")
        if refuse == "anonymous":
            raise ConfigError("the fake adapter refuses this entry", field="config.refuse")
        if refuse == "named":
            raise ConfigError("refused by name", model=entry.id, field="config.refuse")

    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        yield []


@pytest.fixture
def fake_adapter() -> Iterator[type[FakeAdapter]]:
    registry.register_adapter("fake", FakeAdapter)
    yield FakeAdapter
    registry.unregister_adapter("fake")


def fake(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "f",
        "adapter": "fake",
        "base_url": "ws://127.0.0.1:1",
        "api_key": "k",
        **overrides,
    }


# ------------------------------------------------------------------------ the seed guide


def test_seed_guide_examples_load_unchanged_with_env() -> None:
    config = load_config(SEED_GUIDE, env=ENV)
    assert [m.id for m in config.models] == [
        "xunfei-spark-max",
        "xunfei-spark-3.5",
        "xunfei-spark-ultra",
    ]
    first = config.models[0]
    assert first.adapter == "websocket_xunfei"
    assert first.api_key == Secret(API_KEY)
    assert isinstance(first.config, SparkConfig)  # the adapter's typed config block
    assert first.config.app_id == Secret(APP_ID)
    assert first.config.api_secret == Secret(API_SECRET)
    assert (first.temperature, first.max_tokens, first.timeout) == (0.7, 2000, 60.0)
    assert first.response_format == "openai"
    assert config.disabled == []
    assert (config.host, config.port, config.log_level) == ("127.0.0.1", 8765, "info")


@pytest.mark.parametrize(
    ("missing", "field"),
    [
        ("XUNFEI_API_KEY", "api_key"),
        ("XUNFEI_APP_ID", "config.app_id"),
        ("XUNFEI_API_SECRET", "config.api_secret"),
    ],
)
def test_seed_guide_without_a_variable_names_it(missing: str, field: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        load_config(SEED_GUIDE, env=env)
    err = info.value
    assert_names(err, "xunfei-spark-max", field, repr(missing), "is not set")
    assert str(SEED_GUIDE) in str(err)


def test_seed_guide_without_any_variable() -> None:
    with pytest.raises(ConfigError, match="XUNFEI_API_KEY"):
        load_config(SEED_GUIDE, env={})


def test_spark_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = load_config_file(SPARK_EXAMPLE)  # env defaults to os.environ
    assert [m.id for m in config.models] == [
        "spark-max",
        "spark-4.0-ultra",
        "spark-pro",
        "spark-lite",
        "spark-max-32k",
    ]
    assert config.disabled == ["spark-x1"]
    assert config.models[0].retry == RetrySettings(
        enabled=True, max_retries=2, initial_delay=0.5, max_delay=4, exponential_base=2
    )
    assert all(m.adapter == "websocket_xunfei" for m in config.models)


def test_single_entry_object_is_a_one_model_config() -> None:
    config = load_config(entry(), env=ENV)
    assert [m.id for m in config.models] == ["spark"]


# ---------------------------------------------------------------------------- sources


def test_bytes_source() -> None:
    config = load_config(json.dumps([entry()]).encode(), env=ENV)
    assert config.models[0].id == "spark"


def test_path_source_and_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([entry()]).encode())
    assert load_config_file(path, env=ENV).models[0].id == "spark"
    assert load_config(str(path), env=ENV).models[0].id == "spark"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)
    assert info.value.source == str(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config_file(tmp_path)


def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "a",\n   "adapter": "websocket",}\n]\n')
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}: invalid JSON at line 3, column 27")
    assert "trailing comma" in text


def test_invalid_json_column_counts_characters() -> None:
    with pytest.raises(ConfigError, match="line 1, column 10:"):
        load_config('["星火星火", x]'.encode())


def test_truncated_json() -> None:
    with pytest.raises(ConfigError, match=r"ends early .* line 2"):
        load_config(b'[\n {"id": "a"')


def test_invalid_utf8_is_named() -> None:
    """msgspec 0.18 raises UnicodeDecodeError here, 0.23 a DecodeError: one wording for both."""
    with pytest.raises(ConfigError, match=r"^the configuration is not valid UTF-8$"):
        load_config(b'[{"id": "\xff\xfe"}]')


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(b"[" * 5000 + b"]" * 5000)


def test_nan_is_not_json() -> None:
    with pytest.raises(ConfigError, match="NaN and Infinity are not JSON numbers"):
        load_config(b'[{"id": "a", "temperature": NaN}]')


def test_trailing_comma_in_an_array() -> None:
    with pytest.raises(ConfigError, match=r"^invalid JSON at line 1, column 9: trailing comma"):
        load_config(b"[{}, {},]")


def test_empty_file() -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_config(b"  \n")


def test_unsupported_source_type() -> None:
    with pytest.raises(TypeError):
        load_config(42)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- top level


def test_object_form_with_gateway_settings() -> None:
    config = load_config(
        {"models": [entry()], "host": "0.0.0.0", "port": 9000, "log_level": "DEBUG"}, env=ENV
    )
    assert (config.host, config.port, config.log_level) == ("0.0.0.0", 9000, "debug")


def test_object_form_defaults() -> None:
    config = load_config({"models": [entry()]}, env=ENV)
    assert (config.host, config.port, config.log_level) == ("127.0.0.1", 8765, "info")


def test_gateway_settings_may_come_from_env() -> None:
    config = load_config({"models": [entry()], "host": "ENV:HOST"}, env={**ENV, "HOST": "::1"})
    assert config.host == "::1"


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"models": [entry()], "port": port}, env=ENV)
    assert_names(info.value, None, "port", "Expected `int`")


def test_port_wrong_type() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"models": [entry()], "port": "8080"}, env=ENV)
    assert_names(info.value, None, "port", "got `str`")


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"models": [entry()], "prot": 1}, env=ENV)
    assert_names(info.value, None, "prot", "unknown top-level key", "did you mean 'port'")


def test_object_without_models() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"host": "::"}, env=ENV)
    assert_names(info.value, None, "models", "required key is missing")


def test_unknown_log_level() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"models": [entry()], "log_level": "loud"}, env=ENV)
    assert_names(info.value, None, "log_level", "'loud'", "debug")


def test_top_level_must_be_array_or_object() -> None:
    with pytest.raises(ConfigError, match="array of model entries"):
        load_config(b'"models.json"')


def test_no_models_at_all() -> None:
    with pytest.raises(ConfigError, match="no enabled model"):
        load_config([], env=ENV)


# -------------------------------------------------------------------------- ENV:


def test_env_anywhere_in_an_entry(fake_adapter: type[FakeAdapter]) -> None:
    raw = fake(
        base_url="ENV:URL",
        model="ENV:NAME",
        config={"nested": {"deep": ["plain", "ENV:DEEP"]}, "n": 3},
    )
    env = {"URL": "ws://localhost:9/", "NAME": "upstream-name", "DEEP": "found"}
    model = load(raw, env=env).models[0]
    assert model.base_url == "ws://localhost:9"
    assert model.model == "upstream-name"
    assert model.config == {"nested": {"deep": ["plain", "found"]}, "n": 3}


def test_missing_variable_deep_inside_config_names_the_path(
    fake_adapter: type[FakeAdapter],
) -> None:
    err = error_of(fake(config={"nested": {"deep": ["ENV:NOPE"]}}), env={})
    assert_names(err, "f", "config.nested.deep[0]", "'NOPE'", "is not set")


def test_empty_variable_is_an_error() -> None:
    err = error_of(entry(), env={**ENV, "XUNFEI_API_SECRET": ""})
    assert_names(err, "spark", "config.api_secret", "'XUNFEI_API_SECRET'", "empty")


def test_env_prefix_without_a_name() -> None:
    err = error_of(entry(api_key="ENV:"))
    assert_names(err, "spark", "api_key", "needs a variable name")


def test_env_value_of_the_wrong_type_says_where_it_came_from() -> None:
    err = error_of(entry(timeout="ENV:TIMEOUT"), env={**ENV, "TIMEOUT": "30"})
    assert_names(err, "spark", "timeout", "Expected `float`", "'TIMEOUT'")


def test_env_id_is_resolved() -> None:
    config = load(entry(id="ENV:MODEL_ID"), env={**ENV, "MODEL_ID": "from-env"})
    assert config.models[0].id == "from-env"


def test_env_id_missing_names_the_index() -> None:
    with pytest.raises(ConfigError) as info:
        load(entry(), entry(id="ENV:MODEL_ID"))
    err = info.value
    assert (err.model, err.index, err.field) == (None, 1, "id")
    assert "index 1" in str(err)
    assert "'MODEL_ID'" in str(err)


def test_env_values_are_never_shown_in_errors() -> None:
    err = error_of(entry(timeout=0))  # the entry's secrets came from ENV
    assert_names(err, "spark", "timeout")


# -------------------------------------------------------------------------- fields


def test_entry_must_be_an_object() -> None:
    with pytest.raises(ConfigError) as info:
        load(entry(), ["not", "an", "object"])  # type: ignore[arg-type]
    assert info.value.index == 1
    assert "must be a JSON object" in str(info.value)


def test_missing_id_names_the_index() -> None:
    with pytest.raises(ConfigError) as info:
        load(entry(id=None))
    err = info.value
    assert (err.model, err.index, err.field) == (None, 0, "id")
    assert "model entry at index 0, field 'id': required field is missing" in str(err)


@pytest.mark.parametrize("bad_id", [3, ""])
def test_bad_id_names_the_index(bad_id: object) -> None:
    with pytest.raises(ConfigError) as info:
        load(entry(id=bad_id))
    assert (info.value.index, info.value.field) == (0, "id")


@pytest.mark.parametrize("field", ["adapter", "base_url", "api_key"])
def test_missing_required_field(field: str) -> None:
    err = error_of(entry(**{field: None}))
    assert_names(err, "spark", field, "required field is missing")


def test_unknown_field_suggests_the_right_one() -> None:
    err = error_of(entry(tempreature=0.5))
    assert_names(err, "spark", "tempreature", "unknown field", "did you mean 'temperature'")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("temperature", "hot", "got `str`"),
        ("max_tokens", 1.5, "got `float`"),
        ("max_tokens", 0, "Expected `int` >= 1"),
        ("enabled", "yes", "Expected `bool`"),
        ("timeout", 0, "Expected `float` > 0.0"),
        ("timeout", -5, "> 0.0"),
        ("timeout", "60", "got `str`"),
        ("config", [], "Expected `object`, got `array`"),
        ("model", 3, "got `int`"),
        ("api_key", 12345, "Expected `str`, got `int`"),
        ("api_key", "  ", "must not be empty"),
        ("response_format", "json", "'json'"),
        ("retry", [], "Expected `object`"),
    ],
)
def test_wrong_types_and_values(field: str, value: object, fragment: str) -> None:
    err = error_of(entry(**{field: value}))
    assert_names(err, "spark", field, fragment)


def test_response_format_openai_or_absent() -> None:
    assert load(entry(response_format="openai")).models[0].response_format == "openai"
    assert load(entry()).models[0].response_format is None


@pytest.mark.parametrize(
    ("retry", "field", "fragment"),
    [
        ({"max_retries": -1}, "retry.max_retries", ">= 0"),
        ({"initial_delay": -1}, "retry.initial_delay", ">= 0"),
        ({"initial_delay": 5, "max_delay": 1}, "retry.max_delay", "must be >= initial_delay"),
        ({"exponential_base": 0.5}, "retry.exponential_base", ">= 1"),
        ({"jitter": "yes"}, "retry.jitter", "Expected `bool`"),
        ({"max_retires": 3}, "retry.max_retires", "did you mean 'max_retries'"),
    ],
)
def test_retry_block(retry: dict[str, Any], field: str, fragment: str) -> None:
    err = error_of(entry(retry=retry))
    assert_names(err, "spark", field, fragment)


def test_retry_block_defaults_and_values() -> None:
    assert load(entry()).models[0].retry == RetrySettings()
    retry: dict[str, Any] = {
        "enabled": True,
        "max_retries": 0,
        "initial_delay": 0,
        "max_delay": 0,
        "exponential_base": 1,
        "jitter": False,
    }
    assert load(entry(retry=retry)).models[0].retry == RetrySettings(**retry)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://spark-api.xf-yun.com", "scheme is 'https'; the Spark chat API is WebSocket"),
        ("spark-api.xf-yun.com", "it has no scheme"),
        ("wss://", "no host name"),
        ("wss://host/?x=1", "query"),
        ("wss://host:notaport", "not a valid URL"),
    ],
)
def test_bad_base_url(url: str, fragment: str) -> None:
    err = error_of(entry(base_url=url))
    assert_names(err, "spark", "base_url", fragment)


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("wss://spark-api.xf-yun.com/", "wss://spark-api.xf-yun.com"),
        ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080"),
        ("WSS://Spark-API.xf-yun.com//", "WSS://Spark-API.xf-yun.com"),
    ],
)
def test_base_url_trailing_slash_is_dropped(url: str, stored: str) -> None:
    assert load(entry(base_url=url)).models[0].base_url == stored


@pytest.mark.parametrize("endpoint", ["v3.5/chat", "/v3.5/chat?x=1", ""])
def test_bad_endpoint(endpoint: str) -> None:
    err = error_of(entry(endpoint=endpoint))
    assert_names(err, "spark", "endpoint", "path")


# -------------------------------------------------------------------------- adapters


def test_websocket_needs_request_format() -> None:
    err = error_of(entry(request_format=None))
    assert_names(err, "spark", "request_format", "supported request_format values: 'xunfei'")


def test_websocket_with_an_unsupported_request_format() -> None:
    err = error_of(entry(request_format="openai"))
    assert_names(err, "spark", "request_format", "'openai' is not supported", "'xunfei'")


def test_websocket_xunfei_directly() -> None:
    model = load(entry(adapter="websocket_xunfei", request_format=None)).models[0]
    assert model.adapter == "websocket_xunfei"


def test_websocket_xunfei_with_another_request_format() -> None:
    err = error_of(entry(adapter="websocket_xunfei", request_format="openai"))
    assert_names(err, "spark", "request_format", "'xunfei'")


def test_unknown_adapter_lists_the_registered_ones() -> None:
    err = error_of(entry(adapter="openai_compat"))
    assert_names(err, "spark", "adapter", "'openai_compat'", "'websocket_xunfei'", "'websocket'")


def test_registered_adapter(fake_adapter: type[FakeAdapter]) -> None:
    config = load(fake(request_format="anything", config={"free": {"form": 1}}))
    assert config.models[0].adapter == "fake"
    assert config.models[0].request_format == "anything"


# --------------------------------------------------------------- ids, enabled, disabled


def test_duplicate_ids() -> None:
    err = error_of(entry(), entry(model="other"))
    assert_names(err, "spark", "id", "duplicate model id", "index 0 and 1")


def test_duplicate_id_with_a_disabled_entry() -> None:
    err = error_of(entry(), entry(enabled=False))
    assert_names(err, "spark", "id", "duplicate")


def test_disabled_entries_are_kept_out_and_need_no_env() -> None:
    off = entry(id="off", enabled=False, api_key="ENV:ABSENT", adapter="not-installed")
    config = load(entry(), off)
    assert [m.id for m in config.models] == ["spark"]
    assert config.disabled == ["off"]
    assert config.get("off") is None
    assert config.get("spark") is config.models[0]


def test_disabled_entries_are_still_checked_for_shape() -> None:
    err = error_of(entry(), entry(id="off", enabled=False, tempreature=1))
    assert_names(err, "off", "tempreature", "unknown field")


def test_all_disabled_is_an_error() -> None:
    with pytest.raises(ConfigError) as info:
        load(entry(enabled=False))
    assert "no enabled model" in str(info.value)
    assert "spark" in str(info.value)


# -------------------------------------------------------------------------- secrets


def test_api_key_is_a_secret_and_repr_masks_credentials() -> None:
    model = load(
        entry(
            config={
                "app_id": "ENV:XUNFEI_APP_ID",
                "api_secret": "ENV:XUNFEI_API_SECRET",
                "api_version": "v3.5",
                "domain": "generalv3.5",
            }
        )
    ).models[0]
    assert isinstance(model.api_key, Secret)
    assert model.api_key.reveal() == API_KEY
    for text in (repr(model), str(model), repr(model.__rich_repr__()), repr(load(entry()))):
        for secret in SECRETS:
            assert secret not in text
    assert "'api_version': 'v3.5'" in repr(model)
    assert "'domain': 'generalv3.5'" in repr(model)
    assert model.masked_config()["api_secret"] == "****"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"timeout": -1}, "timeout"),
        ({"base_url": "https://x"}, "base_url"),
        ({"tempreature": 1}, "tempreature"),
        ({"request_format": None}, "request_format"),
        ({"retry": {"max_delay": -1}}, "retry.max_delay"),
        ({"adapter": "nope"}, "adapter"),
    ],
)
def test_literal_secrets_do_not_leak_into_errors(bad: dict[str, Any], field: str) -> None:
    literal = entry(api_key=API_KEY, config={"app_id": APP_ID, "api_secret": API_SECRET})
    assert_names(error_of({**literal, **bad}, env={}), "spark", field)


# ----------------------------------------------------------------------- build_adapters


def test_build_adapters(fake_adapter: type[FakeAdapter]) -> None:
    config = load(fake(id="a"), fake(id="b"), fake(id="c", enabled=False))
    adapters = build_adapters(config)
    assert list(adapters) == ["a", "b"]
    assert all(isinstance(a, FakeAdapter) for a in adapters.values())
    assert adapters["a"].entry is config.models[0]


def test_build_adapters_attributes_an_anonymous_config_error(
    fake_adapter: type[FakeAdapter],
) -> None:
    config = load(fake(id="a"), fake(id="b", config={"refuse": "anonymous"}))
    with pytest.raises(ConfigError) as info:
        build_adapters(config)
    assert_names(info.value, "b", "config.refuse", "refuses")


def test_build_adapters_keeps_a_named_config_error(fake_adapter: type[FakeAdapter]) -> None:
    config = load(fake(id="b", config={"refuse": "named"}))
    with pytest.raises(ConfigError) as info:
        build_adapters(config)
    assert_names(info.value, "b", "config.refuse", "refused by name")


def test_build_adapters_for_an_adapter_that_went_away(fake_adapter: type[FakeAdapter]) -> None:
    config = load(fake())
    registry.unregister_adapter("fake")
    with pytest.raises(ConfigError) as info:
        build_adapters(config)
    assert_names(info.value, "f", "adapter", "unknown adapter 'fake'")


def test_build_adapters_validates_spark_entries() -> None:
    config = load_config(SEED_GUIDE, env=ENV)
    assert list(build_adapters(config)) == [m.id for m in config.models]
    bad = load(entry(config={"app_id": "a", "api_secret": "s", "domain": "4.0Ultra"}))
    with pytest.raises(ConfigError) as info:
        build_adapters(bad)
    assert_names(info.value, "spark", "config.domain", "10003")
