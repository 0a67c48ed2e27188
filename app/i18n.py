"""German, French, Italian and English: the user's choice, else the browser's ("fr-CH" counts
as French), else German; the API's from ``Accept-Language`` alone, else English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from babel import dates, numbers
from babel.core import negotiate_locale
from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale
from flask_babel import format_date as babel_format_date
from flask_babel import format_datetime as babel_format_datetime
from flask_login import current_user

babel = Babel()

# One way to write a date per language, four-digit years: 02.12.2026 14:05 in German, and in
# French and Italian as Switzerland writes them (the Federal Chancellery's style, Babel's
# fr_CH and it_CH), 2026-12-02 14:05 (ISO 8601's order, which British and international
# readers share) in English. Babel's own "short" formats would give 02.12.26 and 12/2/26.
DATE_PATTERNS = {"de": "dd.MM.yyyy", "fr": "dd.MM.yyyy", "it": "dd.MM.yyyy", "en": "yyyy-MM-dd"}
# Numbers as the Swiss write French and Italian (Babel's fr_CH and it_CH: 1050,50 and
# 1050.50); German and English as Babel's de and en write them.
NUMBER_LOCALES = {"fr": "fr_CH", "it": "it_CH"}
TIME_PATTERN = "HH:mm"
SECONDS_PATTERN = "HH:mm:ss"


def select_locale() -> str:
    """The language of this response."""
    languages: tuple[str, ...] = tuple(current_app.config["LANGUAGES"])
    if "api" in request.blueprints:
        return _asked(languages) or "en"
    if current_user and current_user.is_authenticated and current_user.user.locale in languages:
        return str(current_user.user.locale)
    chosen = session.get("lang")
    if chosen in languages:
        return str(chosen)
    return _asked(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def _asked(languages: tuple[str, ...]) -> str | None:
    """The first of ``languages`` in the Accept-Language header's order of preference, a
    regional tag ("de-CH") counting as its language (werkzeug's best_match would take "en"
    from "de-CH, en;q=0.5")."""
    asked = [tag for tag, _ in request.accept_languages]
    return negotiate_locale(asked, languages, sep="-")


def _date_pattern() -> str:
    return DATE_PATTERNS.get(str(get_locale()), DATE_PATTERNS["en"])


def format_date(value: date | datetime | None) -> str:
    """A day in the user's language (a time is first put in the configured time zone)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(babel_format_datetime(value, _date_pattern()))
    return str(babel_format_date(value, _date_pattern()))


def format_datetime(
    value: datetime | None, seconds: bool = False, utc: bool = False, as_typed: bool = False
) -> str:
    """A moment in the user's language and the configured time zone (BABEL_DEFAULT_TIMEZONE),
    to the minute, or to the second where events follow each other closely (the audit log);
    ``utc`` keeps it in UTC, for pages whose filters and headings say UTC (the audit pages)."""
    if value is None:
        return ""
    pattern = f"{_date_pattern()} {SECONDS_PATTERN if seconds else TIME_PATTERN}"
    if utc:
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return str(dates.format_datetime(moment, pattern, tzinfo=UTC, locale=get_locale()))
    if value.tzinfo is None and as_typed:
        # A time as a person typed it into a form (no zone yet): written, not converted.
        return str(dates.format_datetime(value.replace(tzinfo=UTC), pattern, tzinfo=UTC,
                                         locale=get_locale()))  # fmt: skip
    return str(babel_format_datetime(value, pattern))


def format_amount(amount: str) -> str:
    """A decimal amount written by the domain ("1050.50") as the user's language writes it
    (1050,50 in German and French, 1050.50 in Italian and English), its decimals kept; other
    text as it is."""
    whole, _dot, decimals = amount.partition(".")
    if not whole.lstrip("-").isdigit() or (decimals and not decimals.isdigit()):
        return amount
    pattern = "0" + ("." + "0" * len(decimals) if decimals else "")
    locale = str(get_locale())
    return str(
        numbers.format_decimal(Decimal(amount), pattern, locale=NUMBER_LOCALES.get(locale, locale))
    )


def init_app(app: Flask) -> None:
    """Install Flask-Babel with adgate's locale selector and the date filters every page
    uses: ``{{ when|datetime }}``, ``{{ when|datetime(seconds=True) }}``, ``{{ day|date }}``."""
    babel.init_app(app, locale_selector=select_locale)
    # format_datetime(value, "short") in a template is written the one way too, so that no
    # page can fall back to Babel's two-digit years.
    app.jinja_env.globals.update(
        get_locale=get_locale,
        format_datetime=lambda value, _format=None: format_datetime(value),
        format_date=lambda value, _format=None: format_date(value),
    )
    app.jinja_env.filters.update(date=format_date, datetime=format_datetime)
    from app import countries

    countries.init_app(app)
