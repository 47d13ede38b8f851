"""The adapter name table (asgi_spark.registry): names, aliases, plug-ins by entry point."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest

from asgi_spark import registry
from asgi_spark.adapters.base import Adapter
from asgi_spark.cli import main
from asgi_spark.config import ConfigError, build_adapters, load_config
from asgi_spark.events import Event
from asgi_spark.openai_types import ChatCompletionRequest
from tests.plugins import install_plugin

TOKEN = "echo-token-VERY-RECOGNISABLE-0004"


def echo_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "echo",
        "adapter": "echo_ws",
        "base_url": "ws://127.0.0.1:9",
        "api_key": "none",
        "config": {"token": TOKEN},
    }
    entry.update(overrides)
    return entry


class OtherAdapter(Adapter):
    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        yield []


@pytest.fixture
def other() -> Iterator[None]:
    registry.register_adapter("other", OtherAdapter, request_format="other-format")
    yield
    registry.unregister_adapter("other")


# ----------------------------------------------------------------------------- names


def test_builtin_is_found_and_listed() -> None:
    cls = registry.get_adapter("websocket_xunfei")
    assert cls is not None and cls.__name__ == "SparkAdapter"
    assert "websocket_xunfei" in registry.adapter_names()
    assert registry.get_adapter("nope") is None


def test_the_websocket_alias_is_the_one_table() -> None:
    assert registry.request_formats() == {"xunfei": "websocket_xunfei"}
    assert registry.resolve("websocket", "xunfei") == "websocket_xunfei"
    assert registry.resolve("websocket_xunfei", None) == "websocket_xunfei"
    assert registry.resolve("websocket_xunfei", "xunfei") == "websocket_xunfei"


@pytest.mark.parametrize(
    ("adapter", "request_format", "field", "fragment"),
    [
        ("websocket", None, "request_format", "needs request_format"),
        ("websocket", "openai", "request_format", "'openai' is not supported"),
        ("websocket_xunfei", "openai", "request_format", "speaks request_format 'xunfei'"),
        ("nope", None, "adapter", "unknown adapter 'nope'"),
    ],
)
def test_resolve_problems_name_the_field(
    adapter: str, request_format: str | None, field: str, fragment: str
) -> None:
    with pytest.raises(registry.RegistryError) as info:
        registry.resolve(adapter, request_format)
    assert info.value.field == field
    assert fragment in info.value.message


def test_unknown_adapter_message_names_the_ways_to_add_one() -> None:
    message = registry.unknown_adapter_message("nope")
    assert "'websocket' (with request_format 'xunfei')" in message
    assert "'asgi_spark.adapters'" in message
    assert "register_adapter()" in message


def test_a_registered_adapter_may_declare_a_request_format(other: None) -> None:
    assert registry.resolve("websocket", "other-format") == "other"
    assert registry.resolve("other", "other-format") == "other"
    with pytest.raises(registry.RegistryError, match="speaks request_format 'other-format'"):
        registry.resolve("other", "xunfei")
    registry.unregister_adapter("other")
    assert "other-format" not in registry.request_formats()


def test_register_adapter_refuses_an_empty_name() -> None:
    with pytest.raises(ValueError):
        registry.register_adapter(" ", OtherAdapter)


# -------------------------------------------------------------------------- plug-ins


def test_a_plugin_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = install_plugin(tmp_path, monkeypatch)
    assert "echo_ws" in registry.adapter_names()
    cls = registry.get_adapter("echo_ws")
    assert cls is not None
    assert cls.__module__ == plugin.module
    assert issubclass(cls, Adapter)


def test_a_plugin_is_not_imported_until_its_name_is_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    plugin = install_plugin(tmp_path, monkeypatch)
    load_config([echo_entry(adapter="websocket_xunfei", config={"app_id": "a", "api_secret": "s"})])
    assert "echo_ws" in registry.adapter_names()
    assert plugin.module not in sys.modules


def test_a_plugin_is_served_from_a_config_file_by_check_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(tmp_path, monkeypatch)
    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": [echo_entry(config={"token": "ENV:ECHO_TOKEN"})]}))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 model(s)" in out
    assert "- echo" in out and "adapter: echo_ws" in out
    assert TOKEN not in out


def test_a_plugin_config_block_is_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(tmp_path, monkeypatch)
    config = load_config([echo_entry(config={"token": TOKEN, "prefix": "> "})])
    entry = config.models[0]
    assert type(entry.config).__name__ == "EchoConfig"
    assert entry.config.token.reveal() == TOKEN
    assert entry.masked_config() == {"token": "****", "prefix": "> "}
    assert TOKEN not in repr(entry)
    assert list(build_adapters(config)) == ["echo"]


@pytest.mark.parametrize(
    ("block", "field", "fragment"),
    [
        ({}, "config.token", "required field is missing (sent to the echo server)"),
        ({"token": TOKEN, "prefx": ""}, "config.prefx", "did you mean 'prefix'?"),
        ({"token": TOKEN, "prefix": "x" * 21}, "config.prefix", "length <= 20"),
        ({"token": 5}, "config.token", "Expected `str`, got `int`"),
    ],
)
def test_plugin_config_errors_in_the_loader_s_words(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    install_plugin(tmp_path, monkeypatch)
    with pytest.raises(ConfigError) as info:
        load_config([echo_entry(config=block)])
    assert (info.value.model, info.value.field) == ("echo", field)
    assert fragment in str(info.value)
    assert TOKEN not in str(info.value)


def test_a_broken_plugin_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = install_plugin(tmp_path, monkeypatch, source="raise ImportError('no numpy here')\n")
    with pytest.raises(ConfigError) as info:
        load_config([echo_entry()])
    err = info.value
    assert (err.model, err.field) == ("echo", "adapter")
    assert "cannot load adapter plug-in 'echo_ws'" in str(err)
    assert plugin.module in str(err) and plugin.distribution in str(err)
    assert "ImportError: no numpy here" in str(err)


def test_a_broken_plugin_does_not_matter_to_other_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch, source="raise ImportError('broken')\n")
    entry = echo_entry(adapter="websocket_xunfei", config={"app_id": "a", "api_secret": "s"})
    assert load_config([entry, echo_entry(id="off", enabled=False)]).disabled == ["off"]


def test_a_plugin_that_is_not_an_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(tmp_path, monkeypatch, source="class EchoAdapter:\n    pass\n")
    with pytest.raises(ConfigError, match="is not an Adapter subclass"):
        load_config([echo_entry()])


def test_a_plugin_with_a_bad_config_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = (
        "from asgi_spark.adapters.base import Adapter\n"
        "class EchoAdapter(Adapter):\n"
        "    config_type = 'not a type'\n"
        "    async def stream(self, request):\n"
        "        yield []\n"
    )
    install_plugin(tmp_path, monkeypatch, source=source)
    with pytest.raises(ConfigError) as info:
        load_config([echo_entry()])
    assert info.value.field == "adapter"
    assert "not a msgspec.Struct subclass" in str(info.value)


def test_a_registered_class_wins_over_a_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch)
    registry.register_adapter("echo_ws", OtherAdapter)
    try:
        assert registry.get_adapter("echo_ws") is OtherAdapter
    finally:
        registry.unregister_adapter("echo_ws")
