"""The gateway's security settings: client keys, CORS, limits on reading requests.

Top-level keys of the object form of a configuration file (their types are fields of
:class:`~.schema.ConfigFile`; the loaded values are fields of :class:`~.schema.GatewayConfig`):

* ``api_keys``: the keys clients must send as ``Authorization: Bearer <key>``; each a string
  (``ENV:`` allowed) or ``{"key": ..., "name": ..., "models": [...]}``.  Loaded into
  :class:`ClientKey` records, the key a :class:`~asgi_spark.secrets.Secret` (masked in every
  repr) and its SHA-256 digest kept for comparing in constant time (:mod:`asgi_spark.access`);
  a string key is named ``api_keys[i]`` in logs, never shown itself.
* ``cors``: which browser origins may call the API (:class:`CorsSettings`, see
  :mod:`asgi_spark.cors`); without it no CORS header is sent and no preflight is answered.
* ``header_timeout`` (``asgi-spark serve`` only: a mounted app never sees a connection before
  its headers), ``body_timeout`` (enforced by the app) and ``max_connections``.

No error message quotes a key: they name the entry (``api_keys[2]``) and the rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Final

import msgspec
from msgspec import Meta

from ..secrets import Secret
from .messages import ConfigError

DEFAULT_HEADER_TIMEOUT: Final = 10.0
DEFAULT_BODY_TIMEOUT: Final = 30.0
DEFAULT_CORS_MAX_AGE: Final = 600

ORIGIN_PATTERN: Final = r"^(\*|https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?)$"
HEADER_PATTERN: Final = r"^(\*|[!#$%&'*+.^_`|~0-9A-Za-z-]+)$"
_ORIGIN: Final = re.compile(ORIGIN_PATTERN)
_HEADER: Final = re.compile(HEADER_PATTERN)
#: A key travels in an HTTP header: visible ASCII, no space.
_KEY: Final = re.compile(r"[\x21-\x7e]+")

_Key = Annotated[
    Secret,
    Meta(
        description="the key a client sends as Authorization: Bearer <key>",
        extra_json_schema={"type": "string", "minLength": 1, "pattern": r"^[\x21-\x7e]+$"},
    ),
]


class ClientKeySpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One client key in its object form."""

    key: _Key
    name: Annotated[
        str | None,
        Meta(description="what logs show for this key (default: api_keys[i])"),
    ] = None
    models: Annotated[
        Annotated[list[str], Meta(min_length=1)] | None,
        Meta(description="the model ids this key may use (default: every model)"),
    ] = None
    requests_per_minute: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="requests this key may make in any rolling 60 s (default: no limit)"),
    ] = None
    tokens_per_minute: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="tokens (prompt + answer) this key may use per rolling 60 s"),
    ] = None


#: An ``api_keys`` item: the key itself, or the object form.
ApiKeyItem = (
    Annotated[str, Meta(min_length=1, extra_json_schema={"pattern": r"^[\x21-\x7e]+$"})]
    | ClientKeySpec
)


class CorsSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which browser origins may call the API, and with which request headers."""

    allow_origins: Annotated[
        list[Annotated[str, Meta(extra_json_schema={"pattern": ORIGIN_PATTERN})]],
        Meta(
            min_length=1,
            description='origins allowed to call from a browser, "scheme://host[:port]", '
            'or "*" for any',
        ),
    ]
    allow_headers: Annotated[
        list[Annotated[str, Meta(extra_json_schema={"pattern": HEADER_PATTERN})]],
        Meta(description='request headers allowed besides authorization and content-type, or "*"'),
    ] = msgspec.field(default_factory=list)
    max_age: Annotated[
        int, Meta(ge=0, description="seconds a browser may keep a preflight answer")
    ] = DEFAULT_CORS_MAX_AGE


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A loaded client key: its name (what logs show), the key, the models it may use."""

    name: str
    key: Secret = field(repr=False)
    #: ``None``: every model.
    models: frozenset[str] | None = None
    digest: bytes = field(default=b"", repr=False, compare=False)
    #: ``None``: no limit (see :mod:`asgi_spark.policies.key_limits`).
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @classmethod
    def of(
        cls,
        name: str,
        key: Secret,
        models: Collection[str] | None = None,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> ClientKey:
        digest = hashlib.sha256(key.reveal().encode("ascii")).digest()
        chosen = None if models is None else frozenset(models)
        return cls(name, key, chosen, digest, requests_per_minute, tokens_per_minute)

    def allows(self, model_id: str) -> bool:
        return self.models is None or model_id in self.models


def client_keys(
    items: Sequence[str | ClientKeySpec], *, note: Callable[[str], str] = lambda _path: ""
) -> tuple[ClientKey, ...]:
    """Load ``api_keys``: each key checked (visible ASCII, unique), each name unique.

    ``note(path)`` says where a value came from (an ``ENV:`` variable)."""
    if not items:
        raise ConfigError(
            "the list is empty, so no client could call the gateway; list at least one key, "
            "or leave api_keys out to serve without keys",
            field="api_keys",
        )
    keys: list[ClientKey] = []
    for index, item in enumerate(items):
        spec = item if isinstance(item, ClientKeySpec) else ClientKeySpec(key=Secret(item))
        path = f"api_keys[{index}]" + (".key" if isinstance(item, ClientKeySpec) else "")
        if not _KEY.fullmatch(spec.key.reveal()):
            raise ConfigError(
                "a key must be visible ASCII characters without spaces (it is sent in an "
                "HTTP header)" + note(path),
                field=path,
            )
        key = ClientKey.of(
            spec.name or f"api_keys[{index}]",
            spec.key,
            spec.models,
            requests_per_minute=spec.requests_per_minute,
            tokens_per_minute=spec.tokens_per_minute,
        )
        for earlier, other in enumerate(keys):
            if other.digest == key.digest:
                raise ConfigError(f"the same key as api_keys[{earlier}]", field=path)
            if other.name == key.name:
                raise ConfigError(
                    f"this name is already the name of api_keys[{earlier}]; names tell keys "
                    "apart in logs",
                    field=f"api_keys[{index}].name",
                )
        keys.append(key)
    return tuple(keys)


def check_key_models(keys: Sequence[ClientKey], model_ids: Collection[str]) -> None:
    """Every model a key lists must be in the configuration (enabled or disabled)."""
    for index, key in enumerate(keys):
        for model in sorted(key.models or ()):
            if model not in model_ids:
                known = ", ".join(sorted(model_ids))
                raise ConfigError(
                    f"unknown model {model!r}; the configuration has: {known}",
                    field=f"api_keys[{index}].models",
                )


def cors_settings(spec: CorsSettings) -> CorsSettings:
    """``spec`` checked, origins and header names lower-cased."""
    for index, origin in enumerate(spec.allow_origins):
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                "not an origin: write scheme://host[:port] (http or https, no path, no "
                'trailing slash), or "*" for any origin',
                field=f"cors.allow_origins[{index}]",
            )
    for index, name in enumerate(spec.allow_headers):
        if not _HEADER.fullmatch(name):
            raise ConfigError(
                'not a header name (letters, digits and !#$%&\'*+.^_`|~-), nor "*"',
                field=f"cors.allow_headers[{index}]",
            )
    return msgspec.structs.replace(
        spec,
        allow_origins=[origin.lower() for origin in spec.allow_origins],
        allow_headers=[name.lower() for name in spec.allow_headers],
    )


__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_CORS_MAX_AGE",
    "DEFAULT_HEADER_TIMEOUT",
    "ApiKeyItem",
    "ClientKey",
    "ClientKeySpec",
    "CorsSettings",
    "check_key_models",
    "client_keys",
    "cors_settings",
]
