"""``flask audit rotate-ip-key``: a new key for the pseudonyms of client addresses.

The audit log never holds a client's IP address, only ``audit.client_ref()``: a keyed
HMAC that links events from one address without revealing it. A new key ends that
link: references made after the rotation cannot be matched with those made before,
and without the old key (which is overwritten) nobody can recompute either.

Configuration is read when a process starts: every app server and worker must be
restarted to use the new key; until then they go on with the old one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import click
from flask import Config, current_app
from flask.cli import with_appcontext

from app import audit
from app.config import ENV_PREFIX, update_secret
from app.db import transaction

KEY = "IP_HMAC_KEY"
ROTATED = "audit.ip_key_rotated"


def key_id(key: str) -> str:
    """A short name for a key that reveals nothing of it: it says which key made a ref."""
    return hashlib.sha256(f"adgate-ip-key-id:{key}".encode()).hexdigest()[:8]


def _in_instance_config(instance: Path) -> bool:
    """Whether instance/config.py sets the key (it is read after secrets.json and wins)."""
    config = Config(str(instance))
    config.from_pyfile("config.py", silent=True)
    return KEY in config


@click.command("rotate-ip-key")
@with_appcontext
def rotate_ip_key_command() -> None:
    """Replace the key of client-address pseudonyms (restart every process afterwards)."""
    instance = Path(current_app.instance_path)
    if f"{ENV_PREFIX}_{KEY}" in os.environ:
        raise click.ClickException(
            f"{KEY} comes from the environment ({ENV_PREFIX}_{KEY}): put a new random value "
            "of at least 32 characters there (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') and restart every app server and worker"
        )
    if _in_instance_config(instance):
        raise click.ClickException(
            f"{KEY} is set in {instance / 'config.py'}: change it there and restart every "
            "app server and worker"
        )
    key = secrets.token_urlsafe(32)
    new_id = key_id(key)
    with transaction() as db:
        audit.record(db, ROTATED, data={"key_id": new_id}, actor=audit.SYSTEM)
        # Written while the event's transaction is open: a failure here rolls the event back.
        update_secret(instance, KEY, key)
    current_app.config[KEY] = key
    click.echo(
        f"new {KEY} {new_id} in {instance / 'secrets.json'}; restart every app server and "
        "worker to use it (each reads its configuration when it starts)"
    )
