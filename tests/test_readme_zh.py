"""The Chinese README keeps step with the English one: the same sections (heading levels, in
order) and the same commands (every command line of the bash blocks, comments aside)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EN = (ROOT / "README.md").read_text("utf-8")
ZH = (ROOT / "README.zh-CN.md").read_text("utf-8")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def headings(markdown: str) -> list[tuple[int, str]]:
    prose = _FENCE.sub("", markdown)
    return [
        (len(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^(#{1,6}) (.+)$", prose, re.M)
    ]


def commands(markdown: str) -> list[str]:
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", markdown, re.S | re.M):
        for line in block.splitlines():
            command = re.sub(r"\s+#(?!!).*$", "", line).rstrip()
            if command:
                lines.append(command)
    return lines


def test_both_readmes_link_to_each_other() -> None:
    assert "(README.zh-CN.md)" in EN
    assert "(README.md)" in ZH


def test_the_same_sections_in_the_same_order() -> None:
    en, zh = headings(EN), headings(ZH)
    assert [level for level, _ in zh] == [level for level, _ in en], (en, zh)
    # headings naming code keep it: `config` in "A typed `config` block"
    for (_, en_text), (_, zh_text) in zip(en, zh, strict=True):
        assert set(re.findall(r"`[^`]+`", en_text)) == set(re.findall(r"`[^`]+`", zh_text))


def test_the_same_commands() -> None:
    assert commands(ZH) == commands(EN)
