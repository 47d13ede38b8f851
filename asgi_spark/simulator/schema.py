"""Typed field checks for :mod:`.validate`, each failing with a ``10004 SchemaCheckError``.

The real service checks request frames against a JSON Schema; its messages name the JSON path
and end with ``;`` (spec 2.2: ``'$.header.uid' length must be less or equal than 32;``).  The
helpers here phrase every failure that way.

A field that is absent is :data:`MISSING`; a field sent as JSON ``null`` is ``None``.  They are
not the same: a required field that is absent is ``'$.x' is required;``, while an explicit
``null`` where the schema wants a type is ``'$.x' must be a string;`` (JSON Schema's ``type``
keyword does not accept ``null``).  Optional fields use :func:`field`, which returns
:data:`MISSING` for an absent key, so that an explicit ``null`` is still type-checked.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Final

from .errors import SparkError


class _Missing(enum.Enum):
    MISSING = enum.auto()


MISSING: Final = _Missing.MISSING
"""An absent field (as opposed to an explicit JSON ``null``)."""


def field(node: dict[str, Any], key: str) -> Any:
    """``node[key]``, or :data:`MISSING` when the key is absent."""
    return node.get(key, MISSING)


def schema_error(path: str, detail: str) -> SparkError:
    """``10004 SchemaCheckError`` ``'<path>' <detail>;``."""
    return SparkError.schema(f"'{path}' {detail};")


def _required(value: Any, path: str) -> None:
    if value is MISSING:
        raise schema_error(path, "is required")


def obj(value: Any, path: str) -> dict[str, Any]:
    _required(value, path)
    if not isinstance(value, dict):
        raise schema_error(path, "must be an object")
    return value


def array(value: Any, path: str) -> list[Any]:
    _required(value, path)
    if not isinstance(value, list):
        raise schema_error(path, "must be an array")
    return value


def string(value: Any, path: str) -> str:
    _required(value, path)
    if not isinstance(value, str):
        raise schema_error(path, "must be a string")
    return value


def boolean(value: Any, path: str) -> bool:
    _required(value, path)
    if not isinstance(value, bool):
        raise schema_error(path, "must be a boolean")
    return value


def one_of(value: Any, path: str, choices: Sequence[str]) -> str:
    """A string that is one of ``choices``."""
    chosen = string(value, path)
    if chosen not in choices:
        raise schema_error(path, f"must be one of [{', '.join(choices)}]")
    return chosen


def integer(value: Any, path: str, *, low: int, high: int) -> int:
    _required(value, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise schema_error(path, "must be an integer")
    _range(value, path, low=low, high=high, open_low=False)
    return value


def number(
    value: Any,
    path: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
) -> float:
    """A JSON number; ``low``/``high`` bound it when given (``open_low``: ``low`` excluded)."""
    _required(value, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise schema_error(path, "must be a number")
    _range(value, path, low=low, high=high, open_low=open_low)
    return float(value)


def _range(
    value: float, path: str, *, low: float | None, high: float | None, open_low: bool
) -> None:
    if low is not None and open_low and value <= low:
        raise schema_error(path, f"must be greater than {low:g}")
    if low is not None and not open_low and value < low:
        raise schema_error(path, f"must be greater or equal than {low:g}")
    if high is not None and value > high:
        raise schema_error(path, f"must be less or equal than {high:g}")
