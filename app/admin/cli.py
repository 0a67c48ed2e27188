"""``flask ad-accounts …``: register ad accounts, record Meta's authorization of their page, ask
Meta what it says, list them. Recorded on the server's command line (audited as the system)."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlmodel import Session, col

from app.admin import ad_accounts as service
from app.admin.ad_accounts import AdAccountError
from app.db import transaction
from app.models import AdAccount, utcnow
from workflows import delivery


@click.group("ad-accounts", cls=AppGroup)
def ad_accounts_cli() -> None:
    """Register ad accounts and record Meta's authorization of their pages."""


def _account(db: Session, account_id: str) -> AdAccount:
    account = db.get(AdAccount, account_id.strip())
    if account is None:
        raise click.ClickException(f"{account_id} is not registered (flask ad-accounts add)")
    return account


@ad_accounts_cli.command("add")
@click.argument("account_id")
@click.option(
    "--page", "page_id", required=True, help="The Facebook page the account advertises for."
)
@click.option("--name", required=True, help="A name people recognise.")
@click.option(
    "--currency",
    type=click.Choice(sorted(delivery.CURRENCIES), case_sensitive=False),
    help="The ad account's currency at Meta (budgets are entered in it).",
)
@click.option("--exist-ok", is_flag=True, help="Succeed without change if it is registered.")
def add_command(
    account_id: str, page_id: str, name: str, currency: str | None, exist_ok: bool
) -> None:
    """Register ACCOUNT_ID (act_…) with its page."""
    if exist_ok:
        with transaction(write=False) as db:
            if db.get(AdAccount, account_id.strip()) is not None:
                click.echo(f"{account_id} is registered already")
                return
    try:
        with transaction() as db:
            service.add(db, account_id, page_id, name, utcnow(), currency)
    except AdAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"registered {account_id} (page {page_id})")
    if currency is None:
        click.echo(f"no currency recorded: set it with flask ad-accounts currency {account_id}")


@ad_accounts_cli.command("currency")
@click.argument("account_id")
@click.argument("currency", type=click.Choice(sorted(delivery.CURRENCIES), case_sensitive=False))
def currency_command(account_id: str, currency: str) -> None:
    """Record the currency of ACCOUNT_ID at Meta."""
    with transaction() as db:
        changed = service.set_currency(db, _account(db, account_id), currency)
    click.echo(f"{account_id}: {currency.upper()}" + ("" if changed else " (unchanged)"))


@ad_accounts_cli.command("authorize")
@click.argument("account_id")
@click.option(
    "--country",
    "countries",
    multiple=True,
    required=True,
    help="A country (ISO 3166-1 alpha-2) the page is authorized in at Meta (repeatable).",
)
@click.option(
    "--disclaimer",
    "disclaimers",
    multiple=True,
    help='A "paid for by" text registered at Meta for these countries (repeatable).',
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Since when Meta's authorization holds (default: today).",
)
@click.option(
    "--evidence",
    default=service.COMMAND_LINE_EVIDENCE,
    show_default=True,
    help="What was seen at Meta (a description; no document is stored).",
)
def authorize_command(
    account_id: str,
    countries: tuple[str, ...],
    disclaimers: tuple[str, ...],
    since: object,
    evidence: str,
) -> None:
    """Record that Meta authorized the page of ACCOUNT_ID for SIEP ads in countries, with the
    disclaimers registered there."""
    now = utcnow()
    start = since.date() if hasattr(since, "date") else now.date()
    assert isinstance(start, date)
    try:
        with transaction() as db:
            account = _account(db, account_id)
            for country in countries:
                fact = service.authorize(
                    db, account, country, since=start, evidence=evidence, by=None, now=now
                )
                click.echo(
                    f"{account.id}: authorized in {country.upper()}"
                    + ("" if fact else " (recorded already)")
                )
                for text in disclaimers:
                    added = service.register_disclaimer(
                        db, account, country, text, evidence=evidence, by=None, now=now
                    )
                    click.echo(
                        f"{account.id}: disclaimer “{text.strip()}” in {country.upper()}"
                        + ("" if added else " (recorded already)")
                    )
    except AdAccountError as exc:
        raise click.ClickException(str(exc)) from exc


@ad_accounts_cli.command("deauthorize")
@click.argument("account_id")
@click.option("--country", "countries", multiple=True, required=True, help="Repeatable.")
@click.option(
    "--disclaimer",
    "disclaimers",
    multiple=True,
    help="Remove only this disclaimer text (repeatable); without it the country goes.",
)
def deauthorize_command(
    account_id: str, countries: tuple[str, ...], disclaimers: tuple[str, ...]
) -> None:
    """The reverse of authorize: the page is no longer authorized in the countries (with their
    disclaimers), or only the named disclaimers are no longer registered there."""
    now = utcnow()
    try:
        with transaction() as db:
            account = _account(db, account_id)
            for country in countries:
                if not disclaimers:
                    done = service.revoke_authorization(db, account, country, by=None, now=now)
                    state = "revoked" if done else "was not authorized"
                    click.echo(f"{account.id}: {country.upper()} {state}")
                for text in disclaimers:
                    done = service.remove_disclaimer(db, account, country, text, by=None, now=now)
                    state = "removed" if done else "was not registered"
                    click.echo(f"{account.id}: disclaimer “{text.strip()}” {state}")
    except AdAccountError as exc:
        raise click.ClickException(str(exc)) from exc


@ad_accounts_cli.command("check")
@click.argument("account_id")
def check_command(account_id: str) -> None:
    """Ask Meta about ACCOUNT_ID (page authorization, currency, minimum budget) and keep it."""
    from app.meta.gateway import MetaError
    from app.submissions.cli import meta_gateway

    with transaction(write=False) as db:
        _account(db, account_id)
    gateway = meta_gateway()
    try:
        reading = gateway.read_account(account_id.strip())
    except MetaError as exc:
        raise click.ClickException(f"Meta answered: {exc.message} (code {exc.code})") from exc
    with transaction() as db:
        account = _account(db, account_id)
        service.record_meta_reading(db, account, reading, utcnow())
        recorded = account.currency
    click.echo(
        f"{account_id}: Meta says page authorized={reading.page_authorized}, "
        f"currency={reading.currency} (recorded {recorded}), "
        f"min_daily_budget={reading.min_daily_budget}"
    )


@ad_accounts_cli.command("list")
def list_command() -> None:
    """Every ad account with its page, currency, standing and Meta authorization."""
    with transaction(write=False) as db:
        for a in db.scalars(select(AdAccount).order_by(col(AdAccount.id))):
            standing = "eligible" if a.political_eligible else "not eligible"
            click.echo(
                f"{a.id}\t{a.page_id}\t{a.name}\t{a.currency or '-'}\t{standing}\t"
                f"{a.violations} violations"
            )
            for country in service.authorizations(db, a):
                texts = "; ".join(f"“{d.text}”" for d in country.disclaimers) or "no disclaimer"
                since = country.authorization.authorized_since.isoformat()
                click.echo(f"\t{country.authorization.country} since {since}: {texts}")
