"""The container files (Dockerfile, compose.yaml, deploy/config.example.json), checked as far
as a machine without Docker can: the image's command is one the CLI really has, the compose
file parses and agrees with the Dockerfile and the example configuration, and that
configuration loads with ``asgi-spark check-config`` once its variables are set."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from asgi_spark.cli import build_parser, main
from asgi_spark.config import ConfigFile

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
EXAMPLE = ROOT / "deploy" / "config.example.json"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def exec_form(value: str) -> list[str]:
    command: list[str] = json.loads(value)
    return command


def image_command() -> list[str]:
    return exec_form(next(value for name, value in instructions() if name == "CMD"))


def env_names(value: Any) -> set[str]:
    """The variables ``ENV:NAME`` strings in ``value`` read."""
    if isinstance(value, str):
        return {value[4:]} if value.startswith("ENV:") else set()
    if isinstance(value, dict):
        return set().union(*(env_names(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(env_names(item) for item in value))
    return set()


def test_the_image_runs_asgi_spark_serve_with_options_the_cli_has() -> None:
    command = image_command()
    assert command[:2] == ["asgi-spark", "serve"]
    args = build_parser().parse_args(command[1:])  # an unknown option exits here
    assert (args.config, args.host, args.port) == ("/config/config.json", "0.0.0.0", 8765)


def test_the_image_is_slim_python_and_runs_as_a_user() -> None:
    found = instructions()
    base = next(value for name, value in found if name == "FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base), base
    users = [value for name, value in found if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "8765") in found
    health = exec_form(
        next(value for name, value in found if name == "HEALTHCHECK").split("CMD", 1)[1]
    )
    assert "http://127.0.0.1:8765/healthz" in health[-1]


def test_the_example_configuration_loads_once_its_variables_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for name in env_names(data):
        monkeypatch.setenv(name, "redis://redis:6379/0" if name == "REDIS_URL" else "x" * 16)
    if "limits" not in ConfigFile.__struct_fields__:  # shared limits (issue 13, item 2) not here
        data.pop("limits")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
    assert "spark-max" in capsys.readouterr().out


def test_the_compose_file_runs_two_replicas_with_redis_and_the_images_config() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    gateway, redis = compose["services"]["gateway"], compose["services"]["redis"]
    assert gateway["build"] == "."
    assert gateway["deploy"]["replicas"] == 2
    assert redis["image"].startswith("redis:")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in gateway["volumes"]}
    config_path = image_command()[image_command().index("--config") + 1]
    assert (ROOT / mounts[config_path]).resolve() == EXAMPLE
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert env_names(example) <= set(gateway["environment"])  # every secret is passed in
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert example["limits"] == {"backend": "redis", "url": "ENV:REDIS_URL"}
    grace = int(gateway["stop_grace_period"].rstrip("s"))
    assert grace > example["drain"]["delay"] + example["drain"]["timeout"]


def test_the_readmes_commands_match_the_files() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose up --build" in readme
    run = next(line for line in readme.splitlines() if line.startswith("docker run"))
    assert shlex.split(run)[-1] == "asgi-spark"  # the image the build command tags
    assert "docker build -t asgi-spark ." in readme
