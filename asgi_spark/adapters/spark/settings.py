"""A Spark model entry, checked against the version table: where to connect and what to send.

:meth:`SparkSettings.from_entry` turns a :class:`~asgi_spark.config.ModelEntry` (the seed
guide's format, ``ENV:`` already resolved) into the values the adapter needs, or raises
:class:`~asgi_spark.config.ConfigError` naming the model id and the field.  No message contains
a credential.

The ``config`` object is a :class:`SparkConfig`: ``app_id`` and ``api_secret`` (required,
held as secrets), ``api_version``, ``domain`` and ``top_k`` (1..6); any other key is an error.
The configuration loader converts the block into it (so its errors are the loader's, naming
model, field and environment variable); an entry built by hand is converted here.

Which version a model is, and the rules that keep URL path and ``domain`` in agreement (Spark
refuses a domain its path does not serve with ``10003 invalid model domain``):

1. ``config.api_version`` given: it is looked up in the table by name, domain, path or alias, in
   any case (``V3.5`` works).  A value not in the table is accepted only together with both
   ``endpoint`` and ``config.domain``; that pair then defines a custom model (fine-tuned or new
   models, proxies) with permissive limits.
2. ``config.api_version`` absent: the version is the one served at ``endpoint``, else the one
   that accepts ``config.domain``; if both are given and neither is in the table they define a
   custom model; otherwise the default, ``v3.5``.
3. ``endpoint`` defaults to the version's path.  An explicit endpoint must equal it: when
   ``api_version`` names one version and ``endpoint`` another, that is an error, never a guess
   (the message says where each lives).  A path prefix (for a proxy) belongs in ``base_url``.
4. ``config.domain`` defaults to the version's domain; one the version does not accept is an
   error.  Case is not significant (``4.0ultra`` is sent as ``4.0Ultra``); legacy domains
   (``general`` for Lite) are kept as written.
5. ``max_tokens`` must lie in the version's range; ``temperature`` in Spark's (0, 1].
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from ...config.messages import ConfigError
from ...config.schema import ModelEntry, SecretStr
from ...config.typed import adapter_config
from ...config.urls import endpoint_problem, normalise_base_url
from ...secrets import Secret
from .versions import (
    DEFAULT_VERSION,
    SparkVersion,
    custom_version,
    find_version,
    known_names,
    version_for_path,
    versions,
)

TOP_K_RANGE: Final = (1, 6)


class SparkConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The config block of a Spark model entry: the app's credentials and the model."""

    app_id: Annotated[SecretStr, Meta(description="the APPID of your app in the Spark console")]
    api_secret: Annotated[
        SecretStr, Meta(description="the APISecret of your app in the Spark console")
    ]
    api_version: Annotated[
        Annotated[str, Meta(min_length=1)] | None,
        Meta(description="a version of the table (v1.1 ... x1, image), default v3.5"),
    ] = None
    domain: Annotated[
        Annotated[str, Meta(min_length=1)] | None,
        Meta(description="the chat domain, default: the version's"),
    ] = None
    top_k: Annotated[
        Annotated[int, Meta(ge=TOP_K_RANGE[0], le=TOP_K_RANGE[1])] | None,
        Meta(description="an integer from 1 to 6: sample among the k likeliest tokens"),
    ] = None


#: Keys allowed in a Spark entry's ``config`` object.
CONFIG_KEYS: Final = SparkConfig.__struct_fields__


class SparkSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the Spark adapter needs from one model entry, validated.

    ``url`` is the unsigned WebSocket URL (``base_url`` + path).  ``temperature`` and
    ``max_tokens`` are the entry's defaults for requests that do not set them (``temperature``
    already on Spark's (0, 1] scale).  Credentials are :class:`Secret`, so ``repr`` is safe.
    """

    app_id: Secret
    api_key: Secret
    api_secret: Secret
    version: SparkVersion
    url: str
    domain: str
    temperature: float | None = None
    max_tokens: int | None = None
    top_k: int | None = None

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> SparkSettings:
        """Validate ``entry`` for Spark; raise :class:`ConfigError` naming model and field."""
        check = _Checker(entry.id)
        config = adapter_config(entry, SparkConfig)
        app_id = check.secret(config.app_id, "config.app_id")
        api_secret = check.secret(config.api_secret, "config.api_secret")
        api_key = check.secret(entry.api_key, "api_key")
        api_version = check.optional_str(config.api_version, "config.api_version")
        domain = check.optional_str(config.domain, "config.domain")
        top_k = config.top_k
        if entry.endpoint is not None:
            problem = endpoint_problem(entry.endpoint)
            if problem is not None:
                raise check.error(problem, "endpoint")
        version, chosen_by = check.version(api_version, entry.endpoint, domain)
        if entry.endpoint is not None and entry.endpoint != version.path:
            raise check.error(_endpoint_mismatch(version, entry.endpoint, chosen_by), "endpoint")
        domain = version.domain if domain is None else check.domain(version, domain, chosen_by)
        check.max_tokens(version, entry.max_tokens)
        check.temperature(entry.temperature)
        try:
            base_url = normalise_base_url(entry.base_url)
        except ValueError as exc:
            raise check.error(str(exc), "base_url") from None
        problem = _base_url_path_problem(base_url, version, entry.endpoint)
        if problem is not None:
            raise check.error(problem, "base_url")
        return cls(
            app_id=app_id,
            api_key=api_key,
            api_secret=api_secret,
            version=version,
            url=base_url + version.path,
            domain=domain,
            temperature=entry.temperature,
            max_tokens=entry.max_tokens,
            top_k=top_k,
        )


class _Checker:
    """Field checks for one entry; every error names the model id and the field."""

    def __init__(self, model: str) -> None:
        self.model = model

    def error(self, message: str, field: str) -> ConfigError:
        return ConfigError(message, model=self.model, field=field)

    def secret(self, value: Secret, field: str) -> Secret:
        """A non-empty credential without surrounding whitespace.  Never in a message."""
        secret = Secret(value.reveal().strip())
        if not secret:
            raise self.error("must not be empty", field)
        return secret

    def optional_str(self, value: str | None, field: str) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise self.error("must not be empty (leave the key out to use the default)", field)
        return value.strip()

    def version(
        self, api_version: str | None, endpoint: str | None, domain: str | None
    ) -> tuple[SparkVersion, str]:
        """The version row the entry means and what chose it (rules 1 and 2 above)."""
        if api_version is not None:
            found = find_version(api_version)
            if found is not None:
                return found, f"config.api_version {api_version!r}"
            if endpoint is not None and domain is not None:
                return custom_version(endpoint, domain, name=api_version), "a custom model"
            raise self.error(
                f"unknown Spark api_version {api_version!r}; known versions: "
                f"{', '.join(known_names())}.  For a model not in this table, give endpoint "
                "and config.domain as well",
                "config.api_version",
            )
        if endpoint is not None:
            by_path = version_for_path(endpoint)
            if by_path is not None:
                return by_path, f"endpoint {endpoint!r}"
        if domain is not None:
            by_domain = _version_accepting(domain)
            if by_domain is not None:
                return by_domain, f"config.domain {domain!r}"
            if endpoint is not None:
                return custom_version(endpoint, domain), "a custom model"
        default = find_version(DEFAULT_VERSION)
        assert default is not None, "the version table lacks the default version"
        return default, "the default api_version"

    def domain(self, version: SparkVersion, domain: str, chosen_by: str) -> str:
        """The accepted spelling of ``domain`` for ``version``, or a mismatch error."""
        for accepted in (version.domain, *version.legacy_domains):
            if accepted.lower() == domain.lower():
                return accepted
        owner = _version_accepting(domain)
        if owner is not None:
            elsewhere = f"; {domain!r} is the domain of {owner.name} at {owner.path!r}"
        else:
            elsewhere = (
                "; for a model not in the version table (fine-tuned, new) give "
                "config.api_version (a name of your choice), endpoint and config.domain"
            )
        raise self.error(
            f"domain {domain!r} does not match {version.name} ({version.product}, chosen by "
            f"{chosen_by}), which expects {version.domain!r}{elsewhere}.  Spark refuses such "
            "requests with error 10003 'invalid model domain'",
            "config.domain",
        )

    def max_tokens(self, version: SparkVersion, max_tokens: int | None) -> None:
        if max_tokens is None:
            return
        low, high = version.min_tokens, version.max_tokens_limit
        if not low <= max_tokens <= high:
            raise self.error(
                f"{max_tokens} is outside the range of {version.name} ({version.product}): "
                f"{low}..{high}",
                "max_tokens",
            )

    def temperature(self, temperature: float | None) -> None:
        if temperature is None:
            return
        if not 0 < temperature <= 1:
            raise self.error(
                f"{temperature:g} is outside Spark's range (0, 1]; this default is sent to Spark "
                "as is (OpenAI's 0..2 temperatures of requests are converted separately)",
                "temperature",
            )


def _base_url_path_problem(
    base_url: str, version: SparkVersion, endpoint: str | None
) -> str | None:
    """Why ``base_url`` must not end with a chat path (the URL would get it twice), and what
    to write instead; ``None`` when it does not (a proxy's path prefix is fine)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    paths = [(row.path, row) for row in versions()]
    if endpoint is not None:
        paths.insert(0, (endpoint.rstrip("/"), version))
    for suffix, row in paths:
        if suffix and path.endswith(suffix):
            netloc = parts.hostname or ""
            if parts.port is not None:
                netloc += f":{parts.port}"
            prefix = f"{parts.scheme}://{netloc}{path[: -len(suffix)]}"
            fix = f"write base_url {prefix!r}"
            if row is not version:
                fix += f" and set config.api_version to {row.name!r}"
            return (
                f"ends with {suffix!r}, the path of {row.name} ({row.product}), which the "
                f"gateway adds itself (the URL would be ...{suffix}{version.path}): {fix}.  Only "
                "a proxy's own path prefix belongs in base_url"
            )
    return None


def _version_accepting(domain: str) -> SparkVersion | None:
    """The table row that serves ``domain`` (any case), if any."""
    wanted = domain.lower()
    for row in versions():
        if any(accepted.lower() == wanted for accepted in (row.domain, *row.legacy_domains)):
            return row
    return None


def _endpoint_mismatch(version: SparkVersion, endpoint: str, chosen_by: str) -> str:
    """Why ``endpoint`` is wrong for ``version`` and what to write instead."""
    owner = version_for_path(endpoint)
    if owner is not None:
        there = f"endpoint {endpoint!r} is where {owner.name} ({owner.product}) lives"
    else:
        there = f"endpoint {endpoint!r} is not a known Spark path"
    fix = f"set endpoint to {version.path!r} or leave it out"
    if owner is not None:
        fix += f", or set config.api_version to {owner.name!r}"
    else:
        fix += (
            "; for a model not in the version table give config.api_version (a name of your "
            "choice) and config.domain; a proxy's path prefix belongs in base_url"
        )
    return (
        f"{there}, but the model is {version.name} ({version.product}, chosen by {chosen_by}), "
        f"which lives at {version.path!r}: {fix}"
    )


__all__ = ["CONFIG_KEYS", "TOP_K_RANGE", "SparkConfig", "SparkSettings"]
