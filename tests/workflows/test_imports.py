"""The domain stands alone: importing any module of workflows loads no web framework, no
database layer and no Meta SDK."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import workflows

FORBIDDEN = {"flask", "sqlmodel", "sqlalchemy", "facebook_business"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(workflows.__path__, "workflows."))


@pytest.mark.parametrize("module", MODULES)
def test_a_workflows_module_imports_nothing_of_the_app(module: str) -> None:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(json.loads(loaded)) & FORBIDDEN == set()


def test_every_module_is_checked() -> None:
    assert {"workflows.machine", "workflows.checks", "workflows.checks.facts"} <= set(MODULES)
