"""The ``drain`` block and ``serve --drain-delay/--drain-timeout`` (asgi_spark/config/drain.py,
asgi_spark/serve_cli.py): defaults, the errors of bad values, the JSON Schema, and the
overrides reaching the gateway that ``serve`` runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import uvicorn

from asgi_spark.cli import main
from asgi_spark.config import ConfigError, config_schema, load_config
from asgi_spark.serve import ServedApp
from tests.e2e.server import spark_entry

MODELS = [spark_entry("m", "ws://127.0.0.1:1")]
DELAY_HELP = (
    "seconds /readyz answers 503 while new requests are still served, before the server stops "
    "listening"
)
TIMEOUT_HELP = (
    "seconds requests in flight may take to finish once the server stops listening; then they "
    "are ended with an error"
)


def load(drain: Any) -> Any:
    return load_config({"models": MODELS, "drain": drain}).drain


def test_defaults_and_values() -> None:
    default = load_config({"models": MODELS}).drain
    assert (default.delay, default.timeout) == (0, 30)
    assert (load({}).delay, load({}).timeout) == (0, 30)
    assert (load({"delay": 5, "timeout": 0}).delay, load({"delay": 5}).timeout) == (5, 30)
    assert load({"timeout": 0.5}).timeout == 0.5


@pytest.mark.parametrize(
    ("drain", "field", "message"),
    [
        ({"delay": -1}, "drain.delay", f"Expected `float` >= 0.0 ({DELAY_HELP})"),
        ({"timeout": -0.5}, "drain.timeout", f"Expected `float` >= 0.0 ({TIMEOUT_HELP})"),
        ({"delay": "5s"}, "drain.delay", f"Expected `float`, got `str` ({DELAY_HELP})"),
        ({"timeout": None}, "drain.timeout", f"Expected `float`, got `null` ({TIMEOUT_HELP})"),
        (
            {"dealy": 5},
            "drain.dealy",
            "unknown key; did you mean 'delay'? (allowed: delay, timeout)",
        ),
        (30, "drain", "Expected `object`, got `int`"),
    ],
)
def test_bad_values_are_clear_errors(drain: Any, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(drain)
    assert info.value.field == field
    assert info.value.message == message


def test_the_json_schema_has_the_block() -> None:
    schema = config_schema()
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"models": MODELS, "drain": {"delay": 5, "timeout": 30}})
    for bad in ({"delay": -1}, {"timeout": "x"}, {"dealy": 1}):
        assert not validator.is_valid({"models": MODELS, "drain": bad}), bad
    assert "drain" in json.dumps(schema)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ServedApp]]:
    """``asgi-spark serve`` up to starting uvicorn, which records the app it was given."""
    seen: list[ServedApp] = []

    def run(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        seen.append(self.config.app)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.delenv("ASGI_SPARK_CONFIG", raising=False)
    root, gateway_logger = logging.getLogger(), logging.getLogger("asgi_spark")
    handlers, level = list(root.handlers), gateway_logger.level
    yield seen
    root.handlers[:] = handlers
    gateway_logger.setLevel(level)


def test_serve_passes_the_overrides_to_the_gateway(served: list[ServedApp], tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": MODELS, "drain": {"delay": 5, "timeout": 30}}))
    main(["serve", "--config", str(path), "--drain-delay", "0.5", "--drain-timeout", "2"])
    main(["serve", "--config", str(path)])
    overridden, configured = (app.gateway.signals for app in served)
    assert (overridden.delay, overridden.timeout) == (0.5, 2)
    assert (configured.delay, configured.timeout) == (None, None)  # the file's, at SIGTERM


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--drain-delay", "-1", "must be 0 or more seconds, not -1"),
        ("--drain-timeout", "soon", "not a number of seconds: 'soon'"),
        ("--drain-timeout", "inf", "must be 0 or more seconds, not inf"),
        ("--drain-delay", "nan", "must be 0 or more seconds, not nan"),
    ],
)
def test_bad_drain_options_are_usage_errors(
    served: list[ServedApp],
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    message: str,
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--demo", option, value])
    assert info.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err
    assert served == []
