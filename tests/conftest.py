"""Project-wide test fixtures.

``openapi`` (session scope): the :mod:`tests.openapi` module, with the OpenAI OpenAPI document
already loaded; call ``openapi.validate("CreateChatCompletionResponse", body)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings

# Make ``tests.*`` importable (``from tests.openapi import validate``) whether or not ``tests``
# is a regular package and however pytest was started.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests import openapi as _openapi  # noqa: E402

# CI (CI=true): the same examples on every run, no example database, no time-per-example limit
# (a shared 2-core machine is noisy); each property sets its own bounded max_examples.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def openapi() -> ModuleType:
    """The schema validator module (see its docstring); the document is parsed once."""
    _openapi.load()
    return _openapi
