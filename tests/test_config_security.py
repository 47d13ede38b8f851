"""The security settings of a configuration file (asgi_spark/config/security.py): ``api_keys``,
``cors``, ``header_timeout``, ``body_timeout``, ``max_connections``; loaded, checked with exact
errors, keys masked everywhere."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from asgi_spark.config import ClientKey, ConfigError, CorsSettings, config_schema, load_config

KEY_A = "sk-client-key-AAAAAAAAAAAAAAAA"
KEY_B = "sk-client-key-BBBBBBBBBBBBBBBB"
MODEL = {
    "id": "m",
    "adapter": "websocket_xunfei",
    "base_url": "wss://spark-api.xf-yun.com",
    "api_key": "upstream-key-1234",
    "config": {"app_id": "app-1234", "api_secret": "secret-1234"},
}
OTHER = {**MODEL, "id": "n"}
OFF = {**MODEL, "id": "off", "enabled": False}


def load(env: dict[str, str] | None = None, **settings: Any) -> Any:
    return load_config({"models": [MODEL, OTHER, OFF], **settings}, env=env or {})


def test_defaults() -> None:
    config = load()
    assert config.api_keys is None and config.cors is None
    assert (config.header_timeout, config.body_timeout, config.max_connections) == (10, 30, None)


def test_keys_in_both_forms() -> None:
    config = load(
        {"CLIENT_KEY": KEY_B},
        api_keys=[KEY_A, {"key": "ENV:CLIENT_KEY", "name": "ci", "models": ["m", "off"]}],
    )
    first, second = config.api_keys
    assert (first.name, first.key.reveal(), first.models) == ("api_keys[0]", KEY_A, None)
    assert (second.name, second.key.reveal(), second.models) == ("ci", KEY_B, {"m", "off"})
    assert first.allows("n") and second.allows("m") and not second.allows("n")


def test_keys_are_masked_in_every_repr() -> None:
    config = load(api_keys=[KEY_A, {"key": KEY_B, "name": "ci"}])
    for shown in (repr(config), str(config), repr(config.api_keys), str(config.api_keys[1])):
        assert KEY_A not in shown and KEY_B not in shown
        assert "digest" not in shown
    assert repr(config.api_keys[1]) == (
        "ClientKey(name='ci', models=None, requests_per_minute=None, tokens_per_minute=None)"
    )


def test_other_settings() -> None:
    config = load(
        cors={"allow_origins": ["https://App.Example.com:8443", "*"], "allow_headers": ["X-Id"]},
        header_timeout=2.5,
        body_timeout=4,
        max_connections=100,
    )
    assert config.cors == CorsSettings(
        allow_origins=["https://app.example.com:8443", "*"], allow_headers=["x-id"], max_age=600
    )
    assert (config.header_timeout, config.body_timeout, config.max_connections) == (2.5, 4, 100)


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            {"api_keys": []},
            "api_keys",
            "the list is empty, so no client could call the gateway; list at least one key, or "
            "leave api_keys out to serve without keys",
        ),
        ({"api_keys": [""]}, "api_keys[0]", "Expected `str` of length >= 1"),
        ({"api_keys": [7]}, "api_keys[0]", "Expected `str | object`, got `int`"),
        (
            {"api_keys": ["with space"]},
            "api_keys[0]",
            "a key must be visible ASCII characters without spaces (it is sent in an HTTP header)",
        ),
        (
            {"api_keys": [{"key": "ENV:SPACEY"}]},
            "api_keys[0].key",
            "a key must be visible ASCII characters without spaces (it is sent in an HTTP "
            "header) (the value comes from environment variable 'SPACEY')",
        ),
        ({"api_keys": ["ENV:NOPE"]}, "api_keys[0]", "environment variable 'NOPE' is not set"),
        ({"api_keys": [KEY_A, KEY_A]}, "api_keys[1]", "the same key as api_keys[0]"),
        (
            {"api_keys": [{"key": KEY_A, "name": "x"}, {"key": KEY_B, "name": "x"}]},
            "api_keys[1].name",
            "this name is already the name of api_keys[0]; names tell keys apart in logs",
        ),
        (
            {"api_keys": [{"key": KEY_A, "models": ["m", "mm"]}]},
            "api_keys[0].models",
            "unknown model 'mm'; the configuration has: m, n, off",
        ),
        (
            {"api_keys": [{"key": KEY_A, "models": []}]},
            "api_keys[0].models",
            "Expected `array` of length >= 1 (the model ids this key may use (default: every "
            "model))",
        ),
        (
            {"api_keys": [{"key": KEY_A, "modles": ["m"]}]},
            "api_keys[0].modles",
            "unknown key; did you mean 'models'? (allowed: key, models, name, requests_per_minute, "
            "tokens_per_minute)",
        ),
        (
            {"api_keys": [{"name": "ci"}]},
            "api_keys[0].key",
            "required field is missing (the key a client sends as Authorization: Bearer <key>)",
        ),
        (
            {"cors": {"allow_origins": []}},
            "cors.allow_origins",
            "Expected `array` of length >= 1 (origins allowed to call from a browser, "
            '"scheme://host[:port]", or "*" for any)',
        ),
        (
            {"cors": {"allow_origins": ["https://app.example.com/"]}},
            "cors.allow_origins[0]",
            "not an origin: write scheme://host[:port] (http or https, no path, no trailing "
            'slash), or "*" for any origin',
        ),
        (
            {"cors": {"allow_origins": ["app.example.com"]}},
            "cors.allow_origins[0]",
            "not an origin: write scheme://host[:port] (http or https, no path, no trailing "
            'slash), or "*" for any origin',
        ),
        (
            {"cors": {"allow_origins": ["*"], "allow_headers": ["x id"]}},
            "cors.allow_headers[0]",
            'not a header name (letters, digits and !#$%&\'*+.^_`|~-), nor "*"',
        ),
        (
            {"cors": {"allow_origin": ["*"]}},
            "cors.allow_origin",
            "unknown key; did you mean 'allow_origins'? (allowed: allow_headers, "
            "allow_origins, max_age)",
        ),
        (
            {"cors": {"allow_origins": ["*"], "max_age": -1}},
            "cors.max_age",
            "Expected `int` >= 0 (seconds a browser may keep a preflight answer)",
        ),
        (
            {"header_timeout": 0},
            "header_timeout",
            "Expected `float` > 0.0 (asgi-spark serve: seconds to receive a request's headers)",
        ),
        (
            {"body_timeout": "30"},
            "body_timeout",
            "Expected `float`, got `str` (seconds to receive a request's whole body)",
        ),
        (
            {"max_connections": 0},
            "max_connections",
            "Expected `int` >= 1 (asgi-spark serve: connections and requests at once; "
            "beyond, a 503)",
        ),
    ],
)
def test_bad_settings_are_exact_errors(settings: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({"SPACEY": "two words"}, **settings)
    assert (info.value.field, info.value.message) == (field, message)
    assert KEY_A not in str(info.value) and KEY_B not in str(info.value)


def test_an_unknown_top_level_key_lists_the_new_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load(api_key=[KEY_A])
    assert info.value.message == (
        "unknown top-level key; did you mean 'api_keys'? (allowed: $schema, access_log, "
        "api_keys, body_timeout, cors, drain, header_timeout, host, limits, log_level, "
        "max_connections, models, port, responses_store)"
    )


def test_a_client_key_compares_by_digest() -> None:
    from asgi_spark.secrets import Secret

    a, b = ClientKey.of("a", Secret(KEY_A)), ClientKey.of("b", Secret(KEY_A))
    assert a.digest == b.digest and len(a.digest) == 32
    assert ClientKey.of("a", Secret(KEY_B)).digest != a.digest


GOOD = {
    "models": [MODEL],
    "api_keys": [KEY_A, {"key": "ENV:K", "name": "ci", "models": ["m"]}],
    "cors": {"allow_origins": ["https://app.example.com", "*"], "allow_headers": ["x-id", "*"]},
    "header_timeout": 5,
    "body_timeout": 20.5,
    "max_connections": 64,
}


def test_the_json_schema_accepts_the_settings() -> None:
    jsonschema.validate(GOOD, config_schema())
    load_config(GOOD, env={"K": KEY_B})


@pytest.mark.parametrize(
    "settings",
    [
        {"api_keys": ["with space"]},
        {"api_keys": [{"key": KEY_A, "colour": "red"}]},
        {"cors": {"allow_origins": ["https://x.com/path"]}},
        {"cors": {"allow_origins": ["*"], "allow_headers": ["a b"]}},
        {"header_timeout": 0},
        {"max_connections": 0},
    ],
)
def test_bad_settings_fail_the_schema_too(settings: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"models": [MODEL], **settings}, config_schema())
    with pytest.raises(ConfigError):
        load_config({"models": [MODEL], **settings}, env={})
