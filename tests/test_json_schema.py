"""``asgi-spark schema`` (asgi_spark/config/json_schema.py): the JSON Schema of a config file.

Every example configuration (README, examples/, the seed guide when ../shared is beside the
clone, the configurations the tests and the demo build) must validate against the printed
schema and load; bad entries must fail both the schema and the loader.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from asgi_spark import registry
from asgi_spark.adapters.base import Adapter
from asgi_spark.cli import main
from asgi_spark.config import ConfigError, build_adapters, config_schema, load_config
from asgi_spark.events import Event
from asgi_spark.gateway import demo_config
from asgi_spark.openai_types import ChatCompletionRequest
from tests import test_cli, test_config
from tests.e2e.server import spark_entry
from tests.plugins import install_plugin

ROOT = Path(__file__).resolve().parents[1]
SEED_GUIDE_DOC = ROOT.parent / "shared" / "reference" / "seed-websocket-guide.zh.md"
ENV = {
    "XUNFEI_API_KEY": "k",
    "XUNFEI_APP_ID": "a",
    "XUNFEI_API_SECRET": "s",
    "T_SPARK_KEY": "k",
    "T_SPARK_APP": "a",
    "T_SPARK_SECRET": "s",
    "GATEWAY_KEY_ADMIN": "sk-admin-0123456789",
    "GATEWAY_KEY_WEB": "sk-web-0123456789",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


def json_blocks(markdown: str) -> list[Any]:
    return [json.loads(block) for block in _JSON_BLOCK.findall(markdown)]


def looks_like_config(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(item, dict) and "adapter" in item for item in value)
    return isinstance(value, dict) and ("models" in value or {"id", "adapter"} <= value.keys())


class EchoStub(Adapter):
    """Stands in for the README's EchoAdapter (config-free) when its example is loaded."""

    name = "echo_ws"

    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        yield []


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    printed = config_schema()
    jsonschema.Draft202012Validator.check_schema(printed)
    return printed


@pytest.fixture
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def echo_stub() -> Iterator[None]:
    registry.register_adapter("echo_ws", EchoStub)
    yield
    registry.unregister_adapter("echo_ws")


def example_configs() -> list[Any]:
    """Every example configuration, as a pytest param named after where it comes from."""

    def configs_in(path: Path) -> list[Any]:
        return [c for c in json_blocks(path.read_text("utf-8")) if looks_like_config(c)]

    params = [
        pytest.param(config, id=f"README.md#{n}")
        for n, config in enumerate(configs_in(ROOT / "README.md"), 1)
    ]
    params += [
        pytest.param(json.loads(path.read_text("utf-8")), id=f"examples/{path.name}")
        for path in sorted((ROOT / "examples").glob("*.json"))
    ]
    if SEED_GUIDE_DOC.is_file():
        params += [
            pytest.param(config, id=f"seed-guide#{n}")
            for n, config in enumerate(configs_in(SEED_GUIDE_DOC), 1)
        ]
    params += [
        pytest.param([test_config.entry()], id="tests.test_config.entry"),
        pytest.param(
            [test_cli.entry(), test_cli.entry(enabled=False, id="o")], id="tests.test_cli"
        ),
        pytest.param(
            {"models": [spark_entry("spark-max", "ws://127.0.0.1:1", timeout=0.5)]},
            id="tests.e2e.server.spark_entry",
        ),
        pytest.param(demo_config("ws://127.0.0.1:1"), id="gateway.demo_config"),
    ]
    return params


def test_the_readme_has_config_examples() -> None:
    readme = json_blocks((ROOT / "README.md").read_text("utf-8"))
    assert sum(looks_like_config(block) for block in readme) >= 3


@pytest.mark.parametrize("config", example_configs())
def test_every_example_config_validates_and_loads(
    validator: jsonschema.Draft202012Validator, config: Any, echo_stub: None
) -> None:
    errors = [error.message for error in validator.iter_errors(config)]
    assert errors == []
    build_adapters(load_config(config, env=ENV))


def test_the_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == config_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_three_shapes(validator: jsonschema.Draft202012Validator) -> None:
    entry = test_config.entry()
    for config in ([entry], entry, {"models": [entry], "$schema": "./s.json", "port": 9000}):
        assert validator.is_valid(config), config
        load_config(config, env=ENV)


def test_spark_config_block_is_typed_by_the_adapter(schema: dict[str, Any]) -> None:
    spark = schema["$defs"]["SparkConfig"]
    assert spark["required"] == ["app_id", "api_secret"]
    assert spark["properties"]["app_id"] == {
        "description": "the APPID of your app in the Spark console",
        "type": "string",
        "minLength": 1,
    }
    assert spark["additionalProperties"] is False
    timeouts = schema["$defs"]["TimeoutSettings"]["properties"]
    assert sorted(timeouts) == ["acquire", "close", "connect", "first_frame", "idle", "total"]


@pytest.mark.parametrize(
    "change",
    [
        {"tempreature": 1},
        {"config": {"app_id": "a"}},
        {"config": {"app_id": "a", "api_secret": "s", "top_k": 9}},
        {"config": {"app_id": "a", "api_secret": "s", "uid": "x"}},
        {"config": {"app_id": "", "api_secret": "s"}},
        {"adapter": "websocket_xunfei", "request_format": None, "config": {"app_id": "a"}},
        {"timeouts": {"conect": 1}},
        {"timeouts": {"idle": 0}},
        {"timeout": 0},
        {"proxy": "ftp://proxy:21"},
        {"max_tokens": 0},
        {"retry": {"max_retries": -1}},
    ],
)
def test_bad_entries_fail_the_schema_and_the_loader(
    validator: jsonschema.Draft202012Validator, change: dict[str, Any]
) -> None:
    config = [test_config.entry(**change)]
    assert not validator.is_valid(config)
    with pytest.raises(ConfigError):
        load_config(config, env=ENV)


def test_bad_top_level_fails_both(validator: jsonschema.Draft202012Validator) -> None:
    for config in ({"models": [test_config.entry()], "prot": 1}, {"models": [], "port": 0}):
        assert not validator.is_valid(config)
        with pytest.raises(ConfigError):
            load_config(config, env=ENV)


def test_a_disabled_entry_s_config_is_not_checked_by_either(
    validator: jsonschema.Draft202012Validator,
) -> None:
    off = test_config.entry(id="off", enabled=False, config={"colour": "red"})
    config = [test_config.entry(), off]
    assert validator.is_valid(config)
    assert load_config(config, env=ENV).disabled == ["off"]


def test_an_installed_plugin_s_config_is_in_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch)
    schema = config_schema()
    assert schema["$defs"]["EchoConfig"]["required"] == ["token"]
    assert "echo_ws" in schema["$defs"]["ModelEntry"]["properties"]["adapter"]["examples"]
    validator = jsonschema.Draft202012Validator(schema)
    entry = {"id": "e", "adapter": "echo_ws", "base_url": "ws://h", "api_key": "k"}
    assert validator.is_valid([{**entry, "config": {"token": "t"}}])
    assert not validator.is_valid([{**entry, "config": {"token": "t", "prefx": ""}}])
    assert not validator.is_valid([entry])


def test_a_broken_plugin_is_a_warning_of_the_schema_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(tmp_path, monkeypatch, source="raise ImportError('broken')\n")
    assert main(["schema"]) == 0
    captured = capsys.readouterr()
    assert "warning: cannot load adapter plug-in 'echo_ws'" in captured.err
    assert json.loads(captured.out)["$defs"]["ModelEntry"]
