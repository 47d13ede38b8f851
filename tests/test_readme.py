"""README tables that have a source in the code are tested against it, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from asgi_spark.adapters.spark.params import ACCEPTED, EMULATED, IGNORABLE, REFUSED
from asgi_spark.adapters.spark.versions import versions
from asgi_spark.simulator.faults import FAULT_NAMES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def _row(prefix: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, f"expected one README row starting {prefix!r}, found {rows}"
    return rows[0]


def test_the_refused_parameter_list_names_exactly_the_refused_ones() -> None:
    row = _row("| a parameter that would change the shape of the answer (")
    cause = row.split("|")[1]
    named = set(re.findall(r"`([a-z_]+)`", cause)) - {"strict_params"}
    assert named == {u.param for u in REFUSED} - set(EMULATED)


def test_the_ignored_parameter_list_names_exactly_the_ignorable_ones() -> None:
    sentence = README[README.index("- Hints Spark has no equivalent for") :]
    sentence = sentence[: sentence.index("The response names")]
    assert set(re.findall(r"`([a-z_]+)`", sentence)) == {u.param for u in IGNORABLE}
    assert set(ACCEPTED) <= set(re.findall(r"`([a-z_]+)`", README))


def test_the_fault_table_lists_every_fault() -> None:
    table = README[README.index("| key | effect |") :]
    table = table[: table.index("\n\n")]
    listed = set(re.findall(r"`([a-z_]+)=", table))
    assert listed == set(FAULT_NAMES)


def test_the_version_table_matches_versions_json() -> None:
    for row in versions():
        line = _row(f"| `{row.name}` |")
        low, high = row.max_tokens
        assert f"`{row.path}`" in line, row.name
        assert f"`{row.domain}`" in line, row.name
        assert f"{low}–{high}" in line, row.name
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[-1] == ("yes" if row.functions else "no"), row.name
        assert (cells[-2] == "yes") == row.system, row.name


def _backticked() -> set[str]:
    return set(re.findall(r"`([^`\s]+)`", README))


def test_every_configuration_key_is_documented() -> None:
    from asgi_spark.adapters.spark.settings import SparkConfig
    from asgi_spark.config import AccessLogSettings, ConfigFile, ModelEntry, RetrySettings
    from asgi_spark.config.drain import DrainSettings
    from asgi_spark.config.schema import ResponsesStoreSettings

    named = _backticked()
    keys = {
        *ModelEntry.__struct_fields__,
        *RetrySettings.__struct_fields__,
        *AccessLogSettings.__struct_fields__,
        *ResponsesStoreSettings.__struct_fields__,
        *DrainSettings.__struct_fields__,
        *(f"config.{key}" for key in SparkConfig.__struct_fields__),
        *(key for key in ConfigFile.__struct_fields__ if key != "schema_url"),
        "$schema",
    }
    assert keys - named == set()


def test_the_readme_example_test_of_the_testing_kit_passes(tmp_path: Path) -> None:
    import subprocess
    import sys

    section = README[README.index("## Testing your application offline") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    (tmp_path / "test_my_app.py").write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_every_chat_field_has_a_row_and_the_readme_has_the_table() -> None:
    from asgi_spark.field_support import CHAT_FIELDS, render
    from asgi_spark.openai_types import ChatCompletionRequest

    assert set(CHAT_FIELDS) == set(ChatCompletionRequest.__struct_fields__)
    assert {kind for kind, _ in CHAT_FIELDS.values()} <= {
        "native",
        "emulated",
        "ignored",
        "refused",
        "gateway",
    }
    assert render(CHAT_FIELDS) in README


def test_every_responses_and_completions_field_has_a_row_and_the_readme_has_the_tables() -> None:
    from asgi_spark.field_support import COMPLETIONS_FIELDS, RESPONSES_FIELDS, render
    from asgi_spark.legacy_completions import CompletionRequest
    from asgi_spark.responses_types import ResponsesRequest

    kinds = {"native", "emulated", "ignored", "refused", "gateway"}
    for table, request in (
        (RESPONSES_FIELDS, ResponsesRequest),
        (COMPLETIONS_FIELDS, CompletionRequest),
    ):
        assert set(table) == set(request.__struct_fields__)
        assert {kind for kind, _ in table.values()} <= kinds
        assert render(table) in README


def test_the_field_table_agrees_with_the_parameter_tables() -> None:
    from asgi_spark.adapters.spark.params import EMULATED, IGNORABLE, REFUSED
    from asgi_spark.field_support import CHAT_FIELDS

    for param in EMULATED:
        assert CHAT_FIELDS[param][0] == "emulated", param
    for row in REFUSED:
        if row.param not in EMULATED:
            assert CHAT_FIELDS[row.param][0] == "refused", row.param
    for row in IGNORABLE:  # an emulated field may have a value that is only ignored
        assert CHAT_FIELDS[row.param][0] in ("ignored", "native", "emulated"), row.param
