"""The version table (spec section 4, with system/function support from 2.4/2.5)."""

from __future__ import annotations

import pytest

from asgi_spark.adapters.spark import versions
from asgi_spark.adapters.spark.versions import SparkVersion, custom_version, find_version

# name, path, domain, max_tokens range, context, system, functions, reasoning, images
ROWS = [
    ("v1.1", "/v1.1/chat", "lite", (1, 4096), 8192, False, False, False, False),
    ("v2.1", "/v2.1/chat", "generalv2", (1, 8192), 8192, True, False, False, False),
    ("v3.1", "/v3.1/chat", "generalv3", (1, 8192), 8192, True, True, False, False),
    ("pro-128k", "/chat/pro-128k", "pro-128k", (1, 4096), 131072, True, True, False, False),
    ("v3.5", "/v3.5/chat", "generalv3.5", (1, 8192), 8192, True, True, False, False),
    ("max-32k", "/chat/max-32k", "max-32k", (1, 8192), 32768, True, True, False, False),
    ("v4.0", "/v4.0/chat", "4.0Ultra", (1, 8192), 8192, True, True, False, False),
    ("x1", "/v1/x1", "spark-x", (1, 32768), 65536, True, True, True, False),
    ("image", "/v2.1/image", "image", (1, 8192), 8192, False, False, False, True),
]


def test_the_table_has_exactly_these_rows() -> None:
    assert versions.known_names() == [row[0] for row in ROWS]


@pytest.mark.parametrize(
    ("name", "path", "domain", "limits", "context", "system", "functions", "reasoning", "images"),
    ROWS,
)
def test_row(
    name: str,
    path: str,
    domain: str,
    limits: tuple[int, int],
    context: int,
    system: bool,
    functions: bool,
    reasoning: bool,
    images: bool,
) -> None:
    row = find_version(name)
    assert row is not None
    assert row.name == name
    assert row.path == path
    assert row.domain == domain
    assert row.max_tokens == limits
    assert (row.min_tokens, row.max_tokens_limit) == limits
    assert limits[0] <= row.default_max_tokens <= limits[1]
    assert row.context_tokens == context
    assert row.system is system
    assert row.functions is functions
    assert row.reasoning is reasoning
    assert row.images is images
    assert row.accepts_domain(domain)
    # the same row by domain, by path, and whatever the case
    assert find_version(domain) is row
    assert find_version(path) is row
    assert find_version(name.upper()) is row
    assert find_version(f"  {domain.upper()} ") is row
    assert versions.version_for_path(path) is row


def test_default_max_tokens_follow_the_doc() -> None:
    # DOC-WEB: default 4096 for the 8K models; X1 answers are long.
    for name in ("v1.1", "v3.1", "pro-128k", "v3.5", "max-32k", "v4.0"):
        row = find_version(name)
        assert row is not None and row.default_max_tokens == 4096


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("lite", "v1.1"),
        ("Spark-Lite", "v1.1"),
        ("general", "v1.1"),
        ("pro", "v3.1"),
        ("SPARK-PRO", "v3.1"),
        ("v3.1-128K", "pro-128k"),
        ("spark-pro-128k", "pro-128k"),
        ("max", "v3.5"),
        ("spark-max", "v3.5"),
        ("v3.5-32k", "max-32k"),
        ("spark-max-32k", "max-32k"),
        ("ultra", "v4.0"),
        ("4.0ultra", "v4.0"),
        ("spark-4.0-ultra", "v4.0"),
        ("spark-x1", "x1"),
        ("X1.5", "x1"),
        ("spark-x", "x1"),
        ("generalv2", "v2.1"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    row = find_version(alias)
    assert row is not None and row.name == name


def test_legacy_domain_general_is_accepted_for_lite() -> None:
    lite = find_version("v1.1")
    assert lite is not None
    assert lite.legacy_domains == ("general",)
    assert lite.accepts_domain("lite")
    assert lite.accepts_domain("general")
    assert not lite.accepts_domain("generalv3")
    max_ = find_version("v3.5")
    assert max_ is not None and not max_.accepts_domain("general")
    assert not max_.accepts_domain("GENERALV3.5")  # domains are exact on the wire


@pytest.mark.parametrize("key", ["v9.9", "", "gpt-4", "/v1.1/chat/", "generalv4"])
def test_unknown_keys(key: str) -> None:
    assert find_version(key) is None


def test_no_lookup_key_is_ambiguous() -> None:
    owners: dict[str, str] = {}
    for row in versions.versions():
        for key in {
            row.name.lower(),
            row.domain.lower(),
            row.path.lower(),
            *(a.lower() for a in row.aliases),
        }:
            assert key not in owners, f"{key!r} names both {owners[key]} and {row.name}"
            owners[key] = row.name


def test_paths_and_domains_are_unique() -> None:
    rows = versions.versions()
    assert len({r.path for r in rows}) == len(rows)
    assert len({r.domain for r in rows}) == len(rows)


def test_version_for_unknown_path() -> None:
    assert versions.version_for_path("/v9/chat") is None


def test_default_version_exists() -> None:
    assert find_version(versions.DEFAULT_VERSION) is not None


def test_custom_version() -> None:
    row = custom_version("/v1.1/chat", "xsstarcoder27binst")
    assert isinstance(row, SparkVersion)
    assert row.name == "xsstarcoder27binst"
    assert row.path == "/v1.1/chat"
    assert row.domain == "xsstarcoder27binst"
    assert row.accepts_domain("xsstarcoder27binst")
    assert row.system and row.functions and not row.reasoning
    assert row.min_tokens == 1
    assert row.max_tokens_limit >= 8192
    assert row.min_tokens <= row.default_max_tokens <= row.max_tokens_limit
    named = custom_version("/v1.1/chat", "svc", name="my-finetune")
    assert named.name == "my-finetune" and named.domain == "svc"
    # custom rows are not added to the table
    assert find_version("xsstarcoder27binst") is None


def test_rows_are_immutable() -> None:
    row = find_version("v3.5")
    assert row is not None
    with pytest.raises(AttributeError):
        row.domain = "x"  # type: ignore[misc]
