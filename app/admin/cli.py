"""``flask ad-accounts add``: register an ad account and its page."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlmodel import col

from app.admin.ad_accounts import AdAccountError, add
from app.db import transaction
from app.models import AdAccount, utcnow


@click.group("ad-accounts", cls=AppGroup)
def ad_accounts_cli() -> None:
    """Register and list ad accounts."""


@ad_accounts_cli.command("add")
@click.argument("account_id")
@click.option(
    "--page", "page_id", required=True, help="The Facebook page the account advertises for."
)
@click.option("--name", required=True, help="A name people recognise.")
@click.option("--exist-ok", is_flag=True, help="Succeed without change if it is registered.")
def add_command(account_id: str, page_id: str, name: str, exist_ok: bool) -> None:
    """Register ACCOUNT_ID (act_…) with its page."""
    if exist_ok:
        with transaction(write=False) as db:
            if db.get(AdAccount, account_id.strip()) is not None:
                click.echo(f"{account_id} is registered already")
                return
    try:
        with transaction() as db:
            add(db, account_id, page_id, name, utcnow())
    except AdAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"registered {account_id} (page {page_id})")


@ad_accounts_cli.command("list")
def list_command() -> None:
    """Every ad account with its page and standing."""
    with transaction(write=False) as db:
        for a in db.scalars(select(AdAccount).order_by(col(AdAccount.id))):
            standing = "eligible" if a.political_eligible else "not eligible"
            click.echo(f"{a.id}\t{a.page_id}\t{a.name}\t{standing}\t{a.violations} violations")
