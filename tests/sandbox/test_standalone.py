"""The sandbox stands in for Meta: loading all of it loads nothing of adgate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A fresh interpreter: in this one, the tests have loaded adgate already.
SCRIPT = """
import importlib, json, pkgutil, sys
import app.sandbox
for module in pkgutil.iter_modules(app.sandbox.__path__, "app.sandbox."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_sandbox_imports_nothing_of_adgate() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "app.sandbox.server" in loaded
    assert "app.sandbox.checks" in loaded
    adgate = [
        name
        for name in loaded
        if (name.startswith("app.") and name.split(".")[1] != "sandbox")
        or name.split(".")[0] == "workflows"
    ]
    assert adgate == []
