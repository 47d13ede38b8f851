"""The words of configuration errors: :class:`ConfigError`, and msgspec's errors made readable.

msgspec names the bad field by a JSON path (``$.retry.max_delay``) in a message of its own
(``Expected `float` >= 0.0``); :func:`validation_issue` turns that into the field path the user
wrote (``retry.max_delay``) and the message, adds "did you mean" for unknown fields, and appends
the field's ``description`` (from its ``Meta``) when the schema gives one, so a Struct's
documentation and its error messages are the same text.  Field names and descriptions are read
from the type itself (:mod:`msgspec.inspect`), so no table of field names is kept here.

No message contains a configured value: they quote field names, variable names and types only.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
import msgspec.inspect as mi

from ..decoding import split_path


class ConfigError(ValueError):
    """A configuration problem.  The message names the model id and the field.

    ``model`` is the entry's id (``None`` for problems outside an entry), ``index`` its position
    when the id is missing, ``field`` the dotted path inside the entry (``config.api_secret``) or
    the top-level key, and ``source`` the file the configuration came from.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        field: str | None = None,
        index: int | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.model = model
        self.field = field
        self.index = index
        self.source = source
        super().__init__(self._compose())

    def _compose(self) -> str:
        where: list[str] = []
        if self.model is not None:
            where.append(f"model {self.model!r}")
        elif self.index is not None:
            where.append(f"model entry at index {self.index}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return f"{self.source}: {text}" if self.source is not None else text

    def with_source(self, source: str) -> ConfigError:
        """The same error, attributed to the file ``source``."""
        return ConfigError(
            self.message, model=self.model, field=self.field, index=self.index, source=source
        )


IssueKind = Literal["unknown", "missing", "value"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation error: where (``field``, a dotted path) and what (``message``).

    ``kind`` says whether a field is unknown, missing, or has a bad value; for the first two
    ``name`` is the field's own name and ``known`` the fields allowed beside it.
    """

    field: str | None
    message: str
    kind: IssueKind = "value"
    name: str | None = None
    known: tuple[str, ...] = ()


_UNKNOWN_FIELD: Final = re.compile(r"Object contains unknown field `(?P<name>.*)`")
_MISSING_FIELD: Final = re.compile(r"Object missing required field `(?P<name>.*)`")
_SEGMENT: Final = re.compile(r"\[\d+\]|[^.\[\]]+")


def validation_issue(exc: msgspec.ValidationError, root: Any, *, prefix: str = "") -> Issue:
    """msgspec's error from converting into ``root``, as an :class:`Issue`.

    ``prefix`` is where ``root`` sits in the entry (``"config"`` for an adapter's block); the
    issue's ``field`` includes it.
    """
    message, found = split_path(str(exc))
    path = found or ""
    unknown = _UNKNOWN_FIELD.fullmatch(message)
    if unknown is not None:
        name = unknown.group("name")
        known = known_fields(root, path)
        return Issue(
            join(prefix, join(path, name)),
            "unknown field" + did_you_mean(name, known),
            kind="unknown",
            name=name,
            known=known,
        )
    missing = _MISSING_FIELD.fullmatch(message)
    if missing is not None:
        name = missing.group("name")
        field = join(path, name)
        return Issue(
            join(prefix, field),
            "required field is missing" + _about(root, field),
            kind="missing",
            name=name,
            known=known_fields(root, path),
        )
    return Issue(join(prefix, path) or None, message + _about(root, path))


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def join(path: str, key: str) -> str:
    """``path.key``, or ``key`` at the root (``path`` empty)."""
    if not path or not key:
        return path or key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, as msgspec says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# ------------------------------------------------------------------- reading the schema


def known_fields(root: Any, path: str) -> tuple[str, ...]:
    """The field names (as written in JSON) of the object at ``path`` inside ``root``."""
    for info in _alternatives(_type_at(root, path)):
        if isinstance(info, mi.StructType):
            return tuple(field.encode_name for field in info.fields)
    return ()


def field_description(root: Any, path: str) -> str | None:
    """The ``Meta(description=...)`` of the field at ``path`` inside ``root``, if any."""
    found = _type_at(root, path)
    return None if found is None else _description(found)


def _about(root: Any, path: str) -> str:
    description = field_description(root, path) if path else None
    return f" ({description})" if description else ""


@functools.lru_cache(maxsize=64)
def _info(root: Any) -> mi.Type:
    return mi.type_info(root)


def _type_at(root: Any, path: str) -> mi.Type | None:
    """The inspected type at ``path`` (``a.b[0].c``) inside ``root``, or ``None``."""
    try:
        current: mi.Type | None = _info(root)
    except (TypeError, ValueError):  # not a type msgspec can inspect
        return None
    for segment in _SEGMENT.findall(path):
        current = _step(current, segment) if current is not None else None
    return current


def _step(info: mi.Type, segment: str) -> mi.Type | None:
    for option in _alternatives(info):
        if segment.startswith("["):
            if isinstance(option, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
                return option.item_type
        elif isinstance(option, mi.StructType):
            for field in option.fields:
                if field.encode_name == segment:
                    return field.type
        elif isinstance(option, mi.DictType):
            return option.value_type
    return None


def _alternatives(info: mi.Type | None) -> list[mi.Type]:
    """``info`` without its metadata wrappers, each member of a union separately."""
    if info is None:
        return []
    if isinstance(info, mi.Metadata):
        return _alternatives(info.type)
    if isinstance(info, mi.UnionType):
        return [alt for member in info.types for alt in _alternatives(member)]
    return [info]


def _description(info: mi.Type) -> str | None:
    if isinstance(info, mi.Metadata):
        text = (info.extra_json_schema or {}).get("description")
        return text if isinstance(text, str) else _description(info.type)
    if isinstance(info, mi.UnionType):
        return next(filter(None, (_description(member) for member in info.types)), None)
    return None


__all__ = [
    "ConfigError",
    "Issue",
    "did_you_mean",
    "field_description",
    "join",
    "json_type",
    "known_fields",
    "validation_issue",
]
