"""Fixtures: the gateway's tests run against the Meta sandbox, started as in its own tests."""

from __future__ import annotations

from tests.sandbox.conftest import sandbox, start_sandbox

__all__ = ["sandbox", "start_sandbox"]
