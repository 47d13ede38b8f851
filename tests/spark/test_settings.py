"""A Spark model entry checked against the version table (adapters/spark/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from asgi_spark.adapters.spark.settings import SparkSettings
from asgi_spark.adapters.spark.versions import SparkVersion, find_version, versions
from asgi_spark.config import ConfigError, ModelEntry, load_config
from asgi_spark.secrets import Secret

SEED_GUIDE = Path(__file__).resolve().parents[2] / "examples" / "seed-guide.json"

API_KEY = "api-key-VERY-RECOGNISABLE-0001"
APP_ID = "app-id-VERY-RECOGNISABLE-0002"
API_SECRET = "api-secret-VERY-RECOGNISABLE-0003"
SECRETS = (API_KEY, APP_ID, API_SECRET)
ENV = {"XUNFEI_API_KEY": API_KEY, "XUNFEI_APP_ID": APP_ID, "XUNFEI_API_SECRET": API_SECRET}
HOST = "wss://spark-api.xf-yun.com"
ROWS = versions()


def make_entry(
    *,
    endpoint: str | None = None,
    base_url: str = HOST,
    temperature: float | None = None,
    max_tokens: int | None = None,
    api_key: str = API_KEY,
    **config: Any,
) -> ModelEntry:
    """A Spark entry with the credentials set; ``config`` keys given as None are dropped."""
    settings: dict[str, Any] = {"app_id": APP_ID, "api_secret": API_SECRET}
    settings.update(config)
    return ModelEntry(
        id="m",
        adapter="websocket_xunfei",
        base_url=base_url,
        api_key=Secret(api_key),
        endpoint=endpoint,
        request_format="xunfei",
        temperature=temperature,
        max_tokens=max_tokens,
        config={key: value for key, value in settings.items() if value is not None},
    )


def settings(**kwargs: Any) -> SparkSettings:
    return SparkSettings.from_entry(make_entry(**kwargs))


def refused(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings(**kwargs)
    return info.value


def assert_names(err: ConfigError, field: str, *fragments: str) -> None:
    text = str(err)
    assert (err.model, err.field) == ("m", field), text
    assert text.startswith(f"model 'm', field {field!r}: "), text
    for fragment in fragments:
        assert fragment in text, text
    for secret in SECRETS:
        assert secret not in text
        assert secret not in repr(err)


def row(name: str) -> SparkVersion:
    found = find_version(name)
    assert found is not None
    return found


# --------------------------------------------------------------------------- the seed


def test_seed_guide_entries() -> None:
    config = load_config(SEED_GUIDE, env=ENV)
    got = [SparkSettings.from_entry(model) for model in config.models]
    assert [(s.version.name, s.url, s.domain) for s in got] == [
        ("v3.5", f"{HOST}/v3.5/chat", "generalv3.5"),
        ("v3.5", f"{HOST}/v3.5/chat", "generalv3.5"),
        ("v4.0", f"{HOST}/v4.0/chat", "4.0Ultra"),
    ]
    first = got[0]
    assert (first.temperature, first.max_tokens, first.top_k) == (0.7, 2000, None)
    assert first.app_id.reveal() == APP_ID
    assert first.api_key.reveal() == API_KEY
    assert first.api_secret.reveal() == API_SECRET


def test_secrets_are_masked_in_repr() -> None:
    s = settings()
    for text in (repr(s), str(s)):
        for secret in SECRETS:
            assert secret not in text
    assert isinstance(s.app_id, Secret)


def test_settings_are_frozen() -> None:
    s = settings()
    with pytest.raises(AttributeError):
        s.domain = "lite"  # type: ignore[misc]
    assert msgspec.structs.replace(s, domain="x").domain == "x"


# --------------------------------------------------------------------------- versions


def test_default_api_version_is_v3_5() -> None:
    s = settings()
    assert (s.version.name, s.url, s.domain) == ("v3.5", f"{HOST}/v3.5/chat", "generalv3.5")


@pytest.mark.parametrize("spelling", ["V3.5", "v3.5", " v3.5 ", "Spark-Max", "GENERALV3.5"])
def test_api_version_lookup_ignores_case(spelling: str) -> None:
    assert settings(api_version=spelling).version.name == "v3.5"


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_domain_and_path_inferred_from_api_version(version: SparkVersion) -> None:
    s = settings(api_version=version.name)
    assert s.version == version
    assert s.domain == version.domain
    assert s.url == HOST + version.path


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_version_inferred_from_endpoint_alone(version: SparkVersion) -> None:
    s = settings(endpoint=version.path)
    assert (s.version, s.domain) == (version, version.domain)


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_version_inferred_from_domain_alone(version: SparkVersion) -> None:
    s = settings(domain=version.domain)
    assert (s.version, s.url) == (version, HOST + version.path)


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_consistent_triple_for_every_row(version: SparkVersion) -> None:
    s = settings(api_version=version.name, endpoint=version.path, domain=version.domain)
    assert (s.version, s.domain, s.url) == (version, version.domain, HOST + version.path)


def test_legacy_lite_domain_is_accepted_as_written() -> None:
    s = settings(api_version="v1.1", domain="general")
    assert (s.version.name, s.domain) == ("v1.1", "general")
    assert settings(domain="general").version.name == "v1.1"


def test_domain_case_is_normalised() -> None:
    assert settings(api_version="v4.0", domain="4.0ultra").domain == "4.0Ultra"


def test_unknown_api_version_lists_the_known_ones() -> None:
    err = refused(api_version="v9.9")
    assert_names(
        err,
        "config.api_version",
        "'v9.9'",
        "v1.1",
        "v3.5",
        "v4.0",
        "x1",
        "endpoint and config.domain",
    )


def test_unknown_api_version_with_endpoint_but_no_domain() -> None:
    assert_names(refused(api_version="v9.9", endpoint="/v9.9/chat"), "config.api_version")


def test_custom_endpoint_domain_pair() -> None:
    s = settings(api_version="my-finetune", endpoint="/v1.1/chat", domain="patchv3")
    assert (s.version.name, s.version.path, s.domain) == ("my-finetune", "/v1.1/chat", "patchv3")
    assert s.url == f"{HOST}/v1.1/chat"
    assert s.version.product == "custom (patchv3)"


def test_custom_pair_without_api_version() -> None:
    s = settings(endpoint="/v5.0/chat", domain="5.0Mega")
    assert (s.version.name, s.url, s.domain) == ("5.0Mega", f"{HOST}/v5.0/chat", "5.0Mega")


def test_base_url_path_prefix_and_trailing_slash() -> None:
    assert settings(base_url=f"{HOST}/").url == f"{HOST}/v3.5/chat"
    assert settings(base_url="ws://proxy:8080/spark/").url == "ws://proxy:8080/spark/v3.5/chat"


# ------------------------------------------------------------------- domain / endpoint


def test_domain_of_another_version_is_refused() -> None:
    err = refused(api_version="v3.5", domain="4.0Ultra")
    assert_names(
        err,
        "config.domain",
        "'4.0Ultra' does not match v3.5",
        "expects 'generalv3.5'",
        "domain of v4.0 at '/v4.0/chat'",
        "10003",
        "config.api_version 'v3.5'",
    )


def test_unknown_domain_for_a_known_version_suggests_a_custom_model() -> None:
    err = refused(api_version="v3.5", domain="generalv3.6")
    assert_names(err, "config.domain", "expects 'generalv3.5'", "a name of your choice")


def test_default_version_with_a_foreign_domain_is_inferred_not_refused() -> None:
    assert settings(domain="lite").version.name == "v1.1"


def test_domain_that_does_not_match_the_endpoint() -> None:
    err = refused(endpoint="/v4.0/chat", domain="generalv3.5")
    assert_names(
        err, "config.domain", "does not match v4.0", "endpoint '/v4.0/chat'", "domain of v3.5"
    )


def test_endpoint_of_another_version_with_explicit_api_version() -> None:
    err = refused(api_version="v3.5", endpoint="/v4.0/chat")
    assert_names(
        err,
        "endpoint",
        "'/v4.0/chat' is where v4.0",
        "lives at '/v3.5/chat'",
        "set config.api_version to 'v4.0'",
    )


def test_explicit_api_version_wins_even_if_endpoint_and_domain_agree_elsewhere() -> None:
    # Contradictory explicit settings are refused rather than guessed at.
    err = refused(api_version="v3.5", endpoint="/v4.0/chat", domain="4.0Ultra")
    assert_names(err, "endpoint", "v4.0", "'/v3.5/chat'")


def test_endpoint_and_domain_without_api_version_select_their_version() -> None:
    s = settings(endpoint="/v4.0/chat", domain="4.0Ultra")
    assert (s.version.name, s.url, s.domain) == ("v4.0", f"{HOST}/v4.0/chat", "4.0Ultra")


def test_unknown_endpoint_with_the_default_version() -> None:
    err = refused(endpoint="/v3.5/chat/")
    assert_names(
        err, "endpoint", "not a known Spark path", "the default api_version", "'/v3.5/chat'"
    )


def test_unknown_endpoint_with_a_known_domain() -> None:
    err = refused(endpoint="/proxy/v3.5/chat", domain="generalv3.5")
    assert_names(err, "endpoint", "config.domain 'generalv3.5'", "base_url")


@pytest.mark.parametrize("endpoint", ["v3.5/chat", "/v3.5/chat?x", ""])
def test_endpoint_must_be_a_path(endpoint: str) -> None:
    assert_names(refused(endpoint=endpoint), "endpoint", "path")


def test_base_url_must_be_websocket() -> None:
    assert_names(refused(base_url="https://spark-api.xf-yun.com"), "base_url", "wss://")


# ------------------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    ("api_version", "max_tokens"),
    [("v1.1", 4097), ("pro-128k", 4097), ("v3.5", 8193), ("v4.0", 9000), ("x1", 32769)],
)
def test_max_tokens_outside_the_version_range(api_version: str, max_tokens: int) -> None:
    err = refused(api_version=api_version, max_tokens=max_tokens)
    limit = row(api_version).max_tokens_limit
    assert_names(err, "max_tokens", f"{max_tokens} is outside", f"1..{limit}")


@pytest.mark.parametrize("version", ROWS, ids=lambda r: r.name)
def test_max_tokens_at_the_version_limits(version: SparkVersion) -> None:
    for value in version.max_tokens:
        assert settings(api_version=version.name, max_tokens=value).max_tokens == value


@pytest.mark.parametrize("temperature", [0, -0.1, 1.01, 2])
def test_temperature_outside_spark_range(temperature: float) -> None:
    assert_names(refused(temperature=temperature), "temperature", "(0, 1]")


@pytest.mark.parametrize("temperature", [0.01, 0.5, 1])
def test_temperature_inside_spark_range(temperature: float) -> None:
    assert settings(temperature=temperature).temperature == temperature


@pytest.mark.parametrize("top_k", [0, 7, "3", True, 2.0])
def test_bad_top_k(top_k: object) -> None:
    assert_names(refused(top_k=top_k), "config.top_k", "1 to 6")


@pytest.mark.parametrize("top_k", [1, 4, 6])
def test_top_k(top_k: int) -> None:
    assert settings(top_k=top_k).top_k == top_k


# ------------------------------------------------------------------------ config keys


def test_unknown_config_key() -> None:
    err = refused(uid="someone")
    assert_names(err, "config.uid", "unknown key", "app_id, api_secret, api_version, domain, top_k")


def test_unknown_config_keys() -> None:
    err = refused(uid="x", patch_id="y")
    assert_names(err, "config", "'uid', 'patch_id'")


@pytest.mark.parametrize("field", ["app_id", "api_secret"])
def test_missing_credential(field: str) -> None:
    assert_names(refused(**{field: None}), f"config.{field}", "required")


@pytest.mark.parametrize("field", ["app_id", "api_secret"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_credential(field: str, value: str) -> None:
    assert_names(refused(**{field: value}), f"config.{field}", "must not be empty")


@pytest.mark.parametrize("field", ["app_id", "api_secret"])
def test_credential_of_the_wrong_type(field: str) -> None:
    # The loader's wording for every field (as for api_key), with the field's description.
    assert_names(refused(**{field: 12345}), f"config.{field}", "Expected `str`, got `int`")


def test_empty_api_key() -> None:
    assert_names(refused(api_key=""), "api_key", "must not be empty")


def test_credentials_are_stripped() -> None:
    s = settings(app_id=f" {APP_ID}\n", api_key=f"{API_KEY} ")
    assert (s.app_id.reveal(), s.api_key.reveal()) == (APP_ID, API_KEY)


def test_credentials_may_already_be_secrets() -> None:
    assert settings(api_secret=Secret(API_SECRET)).api_secret.reveal() == API_SECRET


@pytest.mark.parametrize(
    ("field", "value"), [("api_version", 3.5), ("domain", ""), ("api_version", "  ")]
)
def test_bad_optional_strings(field: str, value: object) -> None:
    assert_names(refused(**{field: value}), f"config.{field}")


# ----------------------------------------------------------------------------- secrecy


@pytest.mark.parametrize(
    "bad",
    [
        {"api_version": "v3.5", "domain": "4.0Ultra"},
        {"api_version": "nope"},
        {"endpoint": "/v4.0/chat", "api_version": "v3.5"},
        {"max_tokens": 100000},
        {"temperature": 5},
        {"top_k": 9},
        {"uid": APP_ID},
        {"base_url": f"https://{API_KEY}"},
    ],
)
def test_no_secret_in_any_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        settings(**bad)
    for secret in SECRETS:
        assert secret not in str(info.value)
        assert secret not in repr(info.value)
