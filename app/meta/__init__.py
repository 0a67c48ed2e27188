"""Everything that talks to Meta: the gateway (facebook-business SDK), the sandbox, the worker."""

from __future__ import annotations

from app.audit import Actor

# The actor of everything the worker does.
WORKER = Actor("system", "worker")
