"""An entry's ``config`` block, converted into the msgspec Struct its adapter declares.

An adapter class declares the type of its block as a class attribute::

    class EchoConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
        token: SecretStr
        rounds: Annotated[int, Meta(ge=1, le=10)] = 1

    class EchoAdapter(WebSocketAdapter[dict]):
        config_type = EchoConfig

The loader converts the block of every enabled entry into that type (``Secret`` fields from
strings, ``Meta`` constraints checked) and stores the instance as ``entry.config``; its errors
name the model, the field (``config.rounds``), the environment variable the value came from,
and for unknown keys the closest allowed one.  An adapter that declares no ``config_type`` gets
the block as written, a JSON object (``dict``), and checks it itself; that keeps adapters
written before typed blocks working unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import msgspec

from .env import Where
from .messages import ConfigError, Issue, did_you_mean, join, validation_issue
from .schema import ModelEntry, dec_hook

S = TypeVar("S", bound=msgspec.Struct)
Note = Callable[[str | None], str]

CONFIG_FIELD = "config"


def declared_config_type(adapter_cls: type) -> type[msgspec.Struct] | None:
    """The Struct ``adapter_cls`` declares as ``config_type``, or ``None`` for a plain object.

    Raises :class:`ConfigError` when the declaration is not a msgspec Struct class.
    """
    declared = getattr(adapter_cls, "config_type", None)
    if declared is None or declared is dict:
        return None
    if isinstance(declared, type) and issubclass(declared, msgspec.Struct):
        return declared
    raise ConfigError(
        f"adapter class {adapter_cls.__qualname__} declares config_type "
        f"{getattr(declared, '__qualname__', type(declared).__name__)}, which is not a "
        "msgspec.Struct subclass",
        field="adapter",
    )


def adapter_config(entry: ModelEntry, config_type: type[S]) -> S:
    """``entry.config`` as ``config_type``: as loaded, or converted now from the JSON object
    of an entry built by hand.  Errors name the entry's id and the field."""
    return convert_config(entry.config, config_type, Where(model=entry.id))


def convert_config(raw: Any, config_type: type[S], where: Where, note: Note | None = None) -> S:
    """``raw`` (the block as written, ``ENV:`` resolved) converted into ``config_type``."""
    if isinstance(raw, config_type):
        return raw
    return cast(S, _convert(raw, config_type, where, note))


def check_plain_config(raw: Any, where: Where, note: Note | None = None) -> dict[str, Any]:
    """``raw`` checked to be a JSON object (for adapters without a config type)."""
    return cast("dict[str, Any]", _convert(raw, dict[str, Any], where, note))


def _convert(raw: Any, target: Any, where: Where, note: Note | None) -> Any:
    try:
        return msgspec.convert(raw, target, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        issue = validation_issue(exc, target, prefix=CONFIG_FIELD)
        message, field = _wording(issue, raw)
        raise where.error(message + (note(field) if note else ""), field) from None


def _wording(issue: Issue, raw: Any) -> tuple[str, str | None]:
    """Unknown keys at the top of the block are listed with the allowed ones."""
    if issue.kind != "unknown" or issue.name is None or not isinstance(raw, dict):
        return issue.message, issue.field
    if issue.field != join(CONFIG_FIELD, issue.name):
        return issue.message, issue.field
    allowed = ", ".join(issue.known)
    unknown = [str(key) for key in raw if key not in issue.known]
    if len(unknown) > 1:
        names = ", ".join(repr(key) for key in unknown)
        return f"unknown keys in config: {names} (allowed: {allowed})", CONFIG_FIELD
    hint = did_you_mean(issue.name, issue.known)
    return f"unknown key in config{hint} (allowed: {allowed})", issue.field


__all__ = [
    "adapter_config",
    "check_plain_config",
    "convert_config",
    "declared_config_type",
]
