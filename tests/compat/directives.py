"""Simulator directives for the compat tests: an exact answer, e.g. JSON for a framework that
parses the text it gets (the simulator's echo is not JSON)."""

from __future__ import annotations

import json
from typing import Any


def answer(value: Any) -> str:
    """A directive making the simulator answer ``value`` (a string, or JSON of anything else)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return f"[spark:answer={json.dumps(text)}]"
