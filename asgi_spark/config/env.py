"""``ENV:NAME`` values: replaced by the environment variable ``NAME`` before validation.

A variable that is not set, or set to the empty string, is an error naming the model, the field
and the variable (never a value).  The resolver remembers which field paths came from which
variable, so a later validation error at such a field can say where its value came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .messages import ConfigError, join

ENV_PREFIX: Final = "ENV:"


@dataclass(frozen=True, slots=True)
class Where:
    """Which entry an error is about: its id when known, else its index (neither: top level)."""

    model: str | None = None
    index: int | None = None

    def error(self, message: str, field: str | None) -> ConfigError:
        index = None if self.model is not None else self.index
        return ConfigError(message, model=self.model, index=index, field=field)


class EnvResolver:
    """Replaces ``ENV:NAME`` strings and remembers which field paths came from which variable."""

    def __init__(self, env: Mapping[str, str], where: Where) -> None:
        self.env = env
        self.where = where
        self.used: dict[str, str] = {}

    def resolve(self, value: Any, path: str) -> Any:
        """``value`` (at field ``path``) with every ``ENV:`` string inside it replaced."""
        if isinstance(value, str):
            return self._lookup(value, path) if value.startswith(ENV_PREFIX) else value
        if isinstance(value, dict):
            return {key: self.resolve(item, join(path, str(key))) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    def _lookup(self, value: str, path: str) -> str:
        name = value[len(ENV_PREFIX) :].strip()
        if not name:
            raise self.where.error("'ENV:' needs a variable name, as in 'ENV:XUNFEI_API_KEY'", path)
        resolved = self.env.get(name)
        if resolved is None:
            raise self.where.error(f"environment variable {name!r} is not set", path)
        if not resolved:
            raise self.where.error(f"environment variable {name!r} is set but empty", path)
        self.used[path] = name
        return resolved

    def note(self, field: str | None) -> str:
        """A hint for an error at ``field`` when its value came from the environment."""
        name = self.used.get(field or "")
        return "" if name is None else f" (the value comes from environment variable {name!r})"


__all__ = ["ENV_PREFIX", "EnvResolver", "Where"]
