"""German and English: the user's choice, else the browser's, else German; the API's from
``Accept-Language`` alone, else English."""

from __future__ import annotations

from babel.core import negotiate_locale
from flask import Flask, current_app, request, session
from flask_babel import Babel, format_datetime, get_locale
from flask_login import current_user

babel = Babel()


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


def init_app(app: Flask) -> None:
    """Install Flask-Babel with adgate's locale selector."""
    babel.init_app(app, locale_selector=select_locale)
    from app import countries

    app.jinja_env.globals.update(get_locale=get_locale, format_datetime=format_datetime)
    countries.init_app(app)
