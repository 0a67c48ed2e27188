"""A submission's way to Meta and after: the worker that sends it, follows its review and
delivery, removes what must go, and its commands (``flask worker``, ``flask meta reconcile``)."""

from __future__ import annotations

from app.audit import Actor

# The actor of everything the worker does.
WORKER = Actor("system", "worker")
