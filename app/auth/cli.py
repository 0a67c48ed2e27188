"""``flask users …``: accounts from the command line (audited as the system)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app import crypto
from app.auth.accounts import (
    AccountError,
    count_users,
    create_user,
    find_user,
    set_active,
    set_password,
)
from app.auth.erasure import ErasureError, erase
from app.auth.twofactor import reencrypt_all
from app.config import update_secret
from app.db import transaction
from app.models import Role, User, utcnow

DEMO_ACCOUNTS = (
    ("manager@demo.adgate.example", Role.MANAGER),
    ("reviewer@demo.adgate.example", Role.REVIEWER),
    ("auditor@demo.adgate.example", Role.AUDITOR),
    ("admin@demo.adgate.example", Role.ADMIN),
)


@click.group("users", cls=AppGroup)
def users_cli() -> None:
    """Create, list, disable, enable and erase accounts."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_command(email: str, role: str, password_stdin: bool) -> None:
    """Create an account with ROLE; its first sign-in changes the password."""
    password = _read_password(password_stdin)
    try:
        with transaction() as db:
            user = create_user(db, email, role, password, must_change_password=True)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.email} ({user.role})")


@users_cli.command("list")
def list_command() -> None:
    """List every account with its role and whether it is active."""
    with transaction(write=False) as db:
        for user in db.scalars(select(User).order_by(User.email)):
            state = "erased" if user.erased_at else "active" if user.active else "disabled"
            click.echo(f"{user.email}\t{user.role}\t{state}")


def _set_active(email: str, active: bool) -> None:
    with transaction() as db:
        user = find_user(db, email)
        if user is None:
            raise click.ClickException(f"no account for {email}")
        if active and user.erased_at is not None:
            raise click.ClickException(f"{user.email} was erased: it cannot be enabled again")
        set_active(db, user, active)
    click.echo(f"{'enabled' if active else 'disabled'} {user.email}")


@users_cli.command("disable")
@click.argument("email")
def disable_command(email: str) -> None:
    """Disable an account and end its logins."""
    _set_active(email, False)


@users_cli.command("enable")
@click.argument("email")
def enable_command(email: str) -> None:
    """Enable a disabled account."""
    _set_active(email, True)


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password_command(email: str, password_stdin: bool) -> None:
    """Set a new password (ends the account's logins, revokes its API tokens); the next
    sign-in changes it."""
    password = _read_password(password_stdin)
    try:
        with transaction() as db:
            user = find_user(db, email)
            if user is None:
                raise click.ClickException(f"no account for {email}")
            set_password(db, user, password, by=None)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password set for {email}")


@users_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(email: str, yes: bool) -> None:
    """Erase the person behind EMAIL (GDPR Art. 17); the audit chain stays valid."""
    # Looked up first and erased after the question, so that no write lock waits on a person.
    with transaction(write=False) as db:
        found = find_user(db, email)
    if found is None:
        raise click.ClickException(
            f"no account for {email} (an erased person's address is gone: "
            "use erased-<id>@invalid to refer to them)"
        )
    if found.erased_at is not None:
        click.echo(f"{found.email} was erased already on {found.erased_at:%Y-%m-%d}")
        return
    if not yes:
        click.confirm(
            f"Erase {found.email} ({found.role}) for good? Their logins, 2FA and API tokens "
            "end; the account cannot be restored",
            abort=True,
        )
    try:
        with transaction() as db:
            user = db.get(User, found.id)
            assert user is not None, "accounts are never deleted"
            report = erase(db, user, None, utcnow())
    except ErasureError as exc:
        raise click.ClickException(str(exc)) from exc
    if report.already_erased:  # by someone else, while the question was open
        click.echo(f"{report.placeholder} was erased already")
        return
    counts = ", ".join(f"{name} {n}" for name, n in report.counts().items())
    click.echo(f"erased account {report.user_id}, now {report.placeholder}: {counts}")


@users_cli.command("demo")
def demo_command() -> None:
    """Create one demo account per role if there are no accounts yet, and print them.

    Their passwords need no change at the first sign-in: they are printed for the person
    who runs the demo, and ``make run`` signs straight in with them.
    """
    with transaction() as db:
        if count_users(db):
            click.echo("Accounts exist already; no demo accounts created.")
            click.echo("Reset a password with: flask --app wsgi users set-password EMAIL")
            return
        created = []
        for email, role in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            create_user(db, email, role.value, password)
            created.append((email, role, password))
    click.echo("Demo accounts (shown once; passwords are stored hashed):")
    for email, role, password in created:
        click.echo(f"  {role.value:<9} {email:<32} {password}")


@click.group("twofactor", cls=AppGroup)
def twofactor_cli() -> None:
    """Manage the keys that encrypt TOTP secrets."""


@twofactor_cli.command("rotate-key")
@click.option("--drop-old", is_flag=True, help="Keep only the new key afterwards.")
def rotate_key_command(drop_old: bool) -> None:
    """Put a new key first in instance/secrets.json and re-encrypt every secret with it."""
    if "ADGATE_TOTP_KEYS" in os.environ:
        raise click.ClickException(
            "TOTP_KEYS come from the environment: put a new key (flask twofactor new-key) first "
            "in ADGATE_TOTP_KEYS, restart, then run: flask --app wsgi twofactor reencrypt"
        )
    keys = [crypto.new_key(), *current_app.config["TOTP_KEYS"]]
    update_secret(Path(current_app.instance_path), "TOTP_KEYS", keys)
    current_app.config["TOTP_KEYS"] = keys
    crypto.init_app(current_app)
    with transaction() as db:
        count = reencrypt_all(db)
    if drop_old:
        update_secret(Path(current_app.instance_path), "TOTP_KEYS", keys[:1])
    click.echo(f"re-encrypted {count} accounts under a new key; restart the app servers")


@twofactor_cli.command("reencrypt")
def reencrypt_command() -> None:
    """Re-encrypt every secret under the first configured key."""
    with transaction() as db:
        count = reencrypt_all(db)
    click.echo(f"re-encrypted {count} accounts")


@twofactor_cli.command("new-key")
def new_key_command() -> None:
    """Print a new key, for keys kept in the environment."""
    click.echo(crypto.new_key())
