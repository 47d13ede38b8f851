"""The project's own promises about its packaging: the lower-bounds run tests what is declared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ("starlette", "websockets", "msgspec", "uvicorn")
#: Extras whose lower bounds the lower-bounds run pins too.
PINNED_EXTRAS = ("redis",)


def _declared_minimums(*extras: str) -> dict[str, Version]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    minimums: dict[str, Version] = {}
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", requirement.replace(" ", ""))
        assert match, f"runtime dependency without a plain lower bound: {requirement}"
        minimums[match.group(1).lower()] = Version(match.group(2))
    return minimums


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / ".ci" / "lower-bounds.txt").read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = Version(version.strip())
    return pins


def test_the_core_install_has_exactly_four_runtime_dependencies() -> None:
    assert sorted(_declared_minimums()) == sorted(RUNTIME)


def test_lower_bounds_run_pins_each_declared_minimum() -> None:
    assert _pins() == _declared_minimums(*PINNED_EXTRAS)
