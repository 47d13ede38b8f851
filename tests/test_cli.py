"""``asgi-spark check-config`` and ``asgi-spark serve``'s configuration handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asgi_spark.cli import main

SECRET = "very-secret-value-123456"


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "spark-max",
        "adapter": "websocket",
        "request_format": "xunfei",
        "base_url": "wss://spark-api.xf-yun.com",
        "api_key": "ENV:T_SPARK_KEY",
        "config": {"app_id": "ENV:T_SPARK_APP", "api_secret": "ENV:T_SPARK_SECRET"},
    }
    base.update(overrides)
    return base


@pytest.fixture
def spark_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SPARK_KEY", "key-" + SECRET)
    monkeypatch.setenv("T_SPARK_APP", "app-" + SECRET)
    monkeypatch.setenv("T_SPARK_SECRET", SECRET)


def test_check_config_prints_models_with_secrets_masked(
    tmp_path: Path, spark_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, [entry(), entry(id="old", enabled=False)])
    assert main(["check-config", path]) == 0
    out = capsys.readouterr().out
    assert "1 model(s)" in out
    assert "spark-max" in out and "wss://spark-api.xf-yun.com/v3.5/chat" in out
    assert "generalv3.5" in out
    assert "old (disabled)" in out
    assert "****" in out
    assert SECRET not in out


def test_check_config_fails_naming_model_field_and_variable(
    tmp_path: Path,
    spark_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("T_SPARK_SECRET")
    path = write(tmp_path, [entry()])
    assert main(["check-config", path]) == 1
    err = capsys.readouterr().err
    assert "'spark-max'" in err and "config.api_secret" in err and "T_SPARK_SECRET" in err


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([entry(config={"app_id": "a", "api_secret": "s", "api_version": "v9"})], "v9"),
        ([entry(base_url="https://spark-api.xf-yun.com")], "base_url"),
        ([entry(), entry()], "spark-max"),
        ([entry(colour="red")], "colour"),
    ],
)
def test_check_config_rejects_bad_files(
    tmp_path: Path,
    spark_env: None,
    capsys: pytest.CaptureFixture[str],
    data: object,
    needle: str,
) -> None:
    assert main(["check-config", write(tmp_path, data)]) == 1
    err = capsys.readouterr().err
    assert needle in err
    assert SECRET not in err


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.json")]) == 1
    assert "nope.json" in capsys.readouterr().err


def test_serve_refuses_a_bad_config_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, [entry()])  # the ENV: variables are not set
    assert main(["serve", "--config", path, "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "T_SPARK_KEY" in err and "'spark-max'" in err


def test_examples_check(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("XUNFEI_API_KEY", "XUNFEI_APP_ID", "XUNFEI_API_SECRET"):
        monkeypatch.setenv(name, "x" * 16)
    root = Path(__file__).resolve().parents[1] / "examples"
    for example in ("spark.json", "seed-guide.json"):
        assert main(["check-config", str(root / example)]) == 0


def test_check_config_names_the_client_keys_never_shows_them(
    tmp_path: Path,
    spark_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_CLIENT_KEY", "sk-client-" + SECRET)
    data = {
        "models": [entry()],
        "api_keys": [
            "ENV:T_CLIENT_KEY",
            {"key": "sk-ci-0123456789", "name": "ci", "models": ["spark-max"]},
        ],
        "cors": {"allow_origins": ["https://app.example.com"]},
        "body_timeout": 12,
        "max_connections": 40,
    }
    assert main(["check-config", write(tmp_path, data)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-4:] == [
        "clients: 2 key(s): api_keys[0], ci (spark-max)",
        "browser origins (cors): https://app.example.com",
        "request limits: header_timeout 10 s, body_timeout 12 s, max_connections 40",
        "limits kept: in each process (memory)",
    ]
    assert SECRET not in out and "sk-ci-0123456789" not in out


def test_check_config_says_when_the_api_is_open(
    tmp_path: Path, spark_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", write(tmp_path, [entry()])]) == 0
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "clients: no key needed (without api_keys the API is open to whoever reaches it)",
        "browser origins (cors): none",
        "request limits: header_timeout 10 s, body_timeout 30 s, max_connections none",
        "limits kept: in each process (memory)",
    ]


def test_check_config_shows_the_limits_and_masks_the_redis_password(
    tmp_path: Path,
    spark_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_REDIS_URL", f"redis://:{SECRET}@redis.internal:6379/2")
    data = {
        "models": [entry(max_concurrency=4, max_qps=2, limit_group="app", queue_timeout=1)],
        "api_keys": [
            {"key": "sk-ci-0123456789", "name": "ci", "requests_per_minute": 60},
            {"key": "sk-web-0123456789", "name": "web", "tokens_per_minute": 5000},
        ],
        "limits": {"backend": "redis", "url": "ENV:T_REDIS_URL", "on_unavailable": "fail_closed"},
    }
    assert main(["check-config", write(tmp_path, data)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[-5] == "clients: 2 key(s): ci (60 requests/min), web (5000 tokens/min)"
    assert lines[-2:] == [
        "model limits: spark-max (limit_group app): max_concurrency 4, max_qps 2, "
        "queue_timeout 1 s",
        "limits kept: in redis at redis://:****@redis.internal:6379/2, shared by every process "
        "(on_unavailable fail_closed, lease_seconds 30, key_prefix asgi-spark)",
    ]
    assert SECRET not in out
