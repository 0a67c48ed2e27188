"""A migration that declares itself additive keeps the previous release's servers ready while
it is applied (app/readiness.py), so the declaration must be true: its ``upgrade()`` only
creates tables and indexes and adds columns the old code can ignore (nullable, or with a
server default). A migration that drops, renames, alters or runs SQL must say
``additive = False``, and then the guide's short stop applies (docs/deploy.md, Upgrades).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.db import MIGRATIONS

VERSIONS = sorted((Path(MIGRATIONS) / "versions").glob("[0-9]*.py"))
# What an additive upgrade may call on ``op``.
ADDITIVE_OPS = {"create_table", "create_index", "add_column"}


def declared_additive(tree: ast.Module) -> bool:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "additive" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return node.value.value is True
    return False


def upgrade_calls(tree: ast.Module) -> list[ast.Call]:
    """Every call in ``upgrade()`` (and what it calls in the same module)."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen: set[str] = set()
    calls: list[ast.Call] = []

    def walk(name: str) -> None:
        if name in seen or name not in functions:
            return
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Call):
                calls.append(node)
                if isinstance(node.func, ast.Name):
                    walk(node.func.id)

    walk("upgrade")
    return calls


def problems(source: str) -> list[str]:
    """Why an upgrade declared additive is not, or nothing."""
    tree = ast.parse(source)
    found = []
    for call in upgrade_calls(tree):
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            continue
        if func.value.id == "op" and func.attr not in ADDITIVE_OPS:
            found.append(f"op.{func.attr} (line {call.lineno})")
        if func.value.id == "op" and func.attr == "add_column":
            columns = [a for a in call.args if isinstance(a, ast.Call)]
            for column in columns:
                keywords = {k.arg: k.value for k in column.keywords}
                nullable = keywords.get("nullable")
                nullable_ok = nullable is None or (
                    isinstance(nullable, ast.Constant) and nullable.value is True
                )
                if not nullable_ok and "server_default" not in keywords:
                    found.append(f"a NOT NULL column without a server default (line {call.lineno})")
    return found


@pytest.mark.parametrize("path", VERSIONS, ids=[p.stem for p in VERSIONS])
def test_a_migration_declared_additive_only_adds(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    if not declared_additive(ast.parse(source)):
        return  # not declared: the old servers report the schema ahead and are restarted
    assert problems(source) == [], f"{path.name} says additive = True but its upgrade() runs"


def test_the_check_refuses_what_is_not_additive() -> None:
    base = "additive = True\n\ndef upgrade() -> None:\n    {}\n"
    assert problems(base.format('op.create_index("ix", "t", ["a"])')) == []
    assert problems(base.format('op.add_column("t", sa.Column("c", sa.Text()))')) == []
    assert problems(
        base.format('op.add_column("t", sa.Column("c", sa.Text(), nullable=False))')
    ) == ["a NOT NULL column without a server default (line 4)"]
    assert (
        problems(
            base.format(
                'op.add_column("t", sa.Column("c", sa.Text(), nullable=False, server_default=""))'
            )
        )
        == []
    )
    assert problems(base.format('op.drop_column("t", "c")')) == ["op.drop_column (line 4)"]
    assert problems(base.format('op.alter_column("t", "c", nullable=False)')) == [
        "op.alter_column (line 4)"
    ]
    assert problems(base.format('op.execute("UPDATE t SET c = 1")')) == ["op.execute (line 4)"]
    helper = (
        "additive = True\n\ndef _rename() -> None:\n    op.rename_table('a', 'b')\n\n"
        "def upgrade() -> None:\n    _rename()\n"
    )
    assert problems(helper) == ["op.rename_table (line 4)"]


def test_every_additive_declaration_is_read() -> None:
    declared = [p.stem for p in VERSIONS if declared_additive(ast.parse(p.read_text()))]
    assert "0020_schema_revision" in declared
    assert "0021_inbox_indexes" in declared
