"""The Spark version table, loaded from ``versions.json`` beside this file (data, not code).

Each row says where a version lives (URL path), which ``domain`` its frames must carry, the
``max_tokens`` range, the context size, and which features it has.  :func:`custom_version`
builds a row for an endpoint/domain pair that is not in the table (fine-tuned models, new
releases) with permissive limits.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import msgspec


class SparkVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    product: str
    path: str
    domain: str
    max_tokens: tuple[int, int]
    default_max_tokens: int
    context_tokens: int
    system: bool
    functions: bool
    reasoning: bool
    images: bool = False
    web_search: bool = False
    legacy_domains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def min_tokens(self) -> int:
        return self.max_tokens[0]

    @property
    def max_tokens_limit(self) -> int:
        return self.max_tokens[1]

    def accepts_domain(self, domain: str) -> bool:
        return domain == self.domain or domain in self.legacy_domains


class _Table(msgspec.Struct):
    versions: tuple[SparkVersion, ...]


DEFAULT_VERSION = "v3.5"


@cache
def versions() -> tuple[SparkVersion, ...]:
    raw = resources.files(__package__).joinpath("versions.json").read_bytes()
    return msgspec.json.decode(raw, type=_Table).versions


@cache
def _index() -> dict[str, SparkVersion]:
    index: dict[str, SparkVersion] = {}
    for row in versions():
        for key in (row.name, row.domain, row.path, *row.aliases):
            index.setdefault(key.lower(), row)
    return index


def find_version(key: str) -> SparkVersion | None:
    """Look a version up by name (``v3.5``), domain (``generalv3.5``), path or alias; any case."""
    return _index().get(key.strip().lower())


def version_for_path(path: str) -> SparkVersion | None:
    return next((row for row in versions() if row.path == path), None)


def known_names() -> list[str]:
    return [row.name for row in versions()]


def custom_version(path: str, domain: str, *, name: str | None = None) -> SparkVersion:
    """A row for an endpoint/domain pair not in the table: every feature allowed, wide limits."""
    return SparkVersion(
        name=name or domain,
        product=f"custom ({domain})",
        path=path,
        domain=domain,
        max_tokens=(1, 32768),
        default_max_tokens=4096,
        context_tokens=131072,
        system=True,
        functions=True,
        reasoning=False,
    )
