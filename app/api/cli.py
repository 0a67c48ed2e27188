"""``flask tokens …``: API tokens from the server's command line (audited as the system)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlmodel import Session

from app.api import tokens
from app.auth import secondfactor
from app.auth.accounts import find_user
from app.db import transaction
from app.models import ApiToken, User, utcnow


@click.group("tokens", cls=AppGroup)
def tokens_cli() -> None:
    """Issue, list and revoke API tokens."""


@tokens_cli.command("create")
@click.argument("email")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(tokens.SCOPES),
    help="A scope the token carries (repeat for several).",
)
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 366))
@click.option(
    "--code-stdin",
    is_flag=True,
    help="Read the owner's current code (authenticator or recovery code) from stdin: needed "
    f"for {', '.join(sorted(tokens.PERSONAL_SCOPES))}, which act in the owner's own name.",
)
def create_command(
    email: str, scopes: tuple[str, ...], name: str, days: int, code_stdin: bool
) -> None:
    """Issue a token for EMAIL; the token is printed once, alone on the last line."""
    code = sys.stdin.readline().strip() if code_stdin else None
    try:
        with transaction() as db:
            owner = find_user(db, email)
            if owner is None:
                raise click.ClickException(f"no account {email}")
            # With the owner's code, the owner issues it; without, nobody known does.
            issued_by = owner if code is not None and _proved(db, owner, code) else None
            issued = tokens.issue(
                db,
                owner,
                name=name,
                scopes=scopes,
                lifetime=timedelta(days=days),
                issued_by=issued_by,
                now=utcnow(),
            )
            token = issued.token
    except tokens.TokenError as exc:
        if exc.code == "personal_scope":
            raise click.ClickException(
                f"{exc}; the owner creates it on the API tokens page, or gives their current "
                "code here (--code-stdin)"
            ) from exc
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"token {token.id} for {owner.email}: {','.join(token.scopes)}, "
        f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC (shown once; store it now)"
    )
    click.echo(issued.secret)


def _proved(db: Session, owner: User, code: str) -> bool:
    """The owner's code, proved as every code is (``app.auth.secondfactor``): the lock
    first, once only, a failure counted and audited before the command fails."""
    attempt = secondfactor.prove(db, owner, code, utcnow())
    if attempt.locked_for is not None:
        raise click.ClickException(f"{owner.email} is locked after too many wrong codes")
    if not attempt.ok:
        raise click.ClickException("the code is not valid (each code works only once)")
    return True


@tokens_cli.command("list")
@click.argument("email", required=False)
def list_command(email: str | None) -> None:
    """List tokens (of EMAIL, or everyone's): id, owner, prefix, scopes, state."""
    now = utcnow()
    with transaction(write=False) as db:
        user_id = None
        if email is not None:
            owner = find_user(db, email)
            if owner is None:
                raise click.ClickException(f"no account {email}")
            user_id = owner.id
        emails = {u.id: u.email for u in db.scalars(select(User))}
        for token in tokens.of_user(db, user_id):
            click.echo(
                f"{token.id}\t{emails.get(token.user_id)}\t{token.prefix}…\t{','.join(token.scopes)}\t"
                f"{_state(token, now)}\t{token.name}"
            )


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    with transaction() as db:
        token = db.get(ApiToken, token_id)
        if token is None:
            raise click.ClickException(f"no token {token_id}")
        changed = tokens.revoke(db, token, None, utcnow())
    click.echo(f"token {token_id} {'revoked' if changed else 'was revoked already'}")


def _state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return f"valid until {token.expires_at:%Y-%m-%d}"
