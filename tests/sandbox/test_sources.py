"""docs/meta.md lists every rule the sandbox applies, with the same source and status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.sandbox.rules import RULES, Rule

DOC = (Path(__file__).resolve().parents[2] / "docs" / "meta.md").read_text(encoding="utf-8")
SECTION = DOC.split("## 4. The sandbox's rules")[1].split("\n## ")[0]
ROW = re.compile(r"^\| `([a-z_.]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", re.MULTILINE)
ROWS = {m.group(1): m.groups()[1:] for m in ROW.finditer(SECTION)}


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_every_sandbox_rule_is_in_the_table_with_its_source(rule: Rule) -> None:
    assert rule.name in ROWS, f"docs/meta.md has no row for {rule.name}"
    code, source, status = (part.strip() for part in ROWS[rule.name])
    assert code.startswith(str(rule.code)) or code.startswith("review")
    if rule.subcode is not None:
        assert str(rule.subcode) in code
    assert rule.source in source
    assert status.startswith("verified" if rule.verified else "believed")


def test_the_table_lists_no_rule_the_sandbox_does_not_have() -> None:
    assert set(ROWS) == {r.name for r in RULES}
