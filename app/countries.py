"""Countries by name in the user's language (Babel's territory names), and the form fields
that choose them: a country is recorded by its ISO 3166-1 alpha-2 code, never by letters
cut from a name.

What a person may type or a form may post: the code as listed ("CH") or the country's name
in any language adgate speaks ("Schweiz", "Suisse", "Svizzera", "Switzerland"), in any case.
Anything else is refused with the text posted; nothing is guessed, so "Sc" is never
Seychelles.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from babel import Locale
from flask import Flask
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, SelectMultipleField
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from workflows import policy

# The languages whose names are taken besides the page's: those adgate speaks.
NAME_LANGUAGES = ("de", "fr", "it", "en")


def _locale() -> Locale:
    try:
        return Locale.parse(str(get_locale() or "en"))
    except (ValueError, TypeError, RuntimeError):  # outside a request: English
        return Locale.parse("en")


def name(code: str, locale: Locale | None = None) -> str:
    """The country's name in the page's language (the code itself when Babel has none)."""
    return str((locale or _locale()).territories.get(code, code))


def _sort_key(text: str) -> str:
    # "Österreich" sorts with O, as people look for it.
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def choices(codes: Iterable[str]) -> list[tuple[str, str]]:
    """(code, name) pairs, by name in the page's language."""
    locale = _locale()
    return sorted(((c, name(c, locale)) for c in codes), key=lambda p: _sort_key(p[1]).casefold())


def resolve(text: str, codes: Iterable[str]) -> str | None:
    """The code among ``codes`` that ``text`` names exactly (the code as listed, upper case,
    or the name in the page's language or another adgate speaks, any case); else None."""
    wanted = " ".join(str(text).split())
    allowed = frozenset(codes)
    if wanted in allowed:
        return wanted
    folded = wanted.casefold()
    if not folded:
        return None
    locales = [_locale(), *(Locale.parse(lang) for lang in NAME_LANGUAGES)]
    for locale in locales:
        for code in allowed:
            if name(code, locale).casefold() == folded:
                return code
    return None


def split(raw: Sequence[str]) -> list[str]:
    """The posted values, a value listing several by commas or semicolons taken apart."""
    return [part.strip() for value in raw for part in re.split(r"[,;]", value) if part.strip()]


class CountryField(SelectField):  # type: ignore[misc]
    """One country from ``codes`` (every ISO 3166-1 country by default), listed by name."""

    def __init__(self, *args: Any, codes: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, choices=self._choices, **kwargs)
        self.codes = frozenset(codes if codes is not None else policy.ISO_3166_ALPHA2)
        self.posted: str | None = None

    def _choices(self) -> list[tuple[str, str]]:
        return [("", str(_l("Choose a country"))), *choices(self.codes)]

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:
            self.posted = valuelist[0]
            found = resolve(valuelist[0], self.codes)
            self.data = found if found or valuelist[0].strip() else ""

    def pre_validate(self, form: Any) -> None:
        # StopValidation, not ValidationError: DataRequired would clear the message.
        if self.data is None:
            raise StopValidation(
                str(_l("“%(text)s” is not a country in the list.", text=self.posted or ""))
            )
        if self.data and self.data not in self.codes:  # set by code, not posted
            raise StopValidation(str(_l("Choose a country from the list.")))


class CountriesField(SelectMultipleField):  # type: ignore[misc]
    """Several countries from ``codes``, as checkboxes listed by name."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args: Any, codes: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, choices=self._choices, **kwargs)
        self.codes = frozenset(codes)
        self.unknown: list[str] = []

    def _choices(self) -> list[tuple[str, str]]:
        return choices(self.codes)

    def process_formdata(self, valuelist: list[str]) -> None:
        found, self.unknown = [], []
        for text in split(valuelist):
            code = resolve(text, self.codes)
            if code is None:
                self.unknown.append(text)
            elif code not in found:
                found.append(code)
        self.data = found

    def pre_validate(self, form: Any) -> None:
        if self.unknown:
            raise StopValidation(
                str(
                    _l(
                        "Not a country adgate can target: %(texts)s. Choose from the list.",
                        texts=", ".join(f"“{t}”" for t in self.unknown),
                    )
                )
            )


def init_app(app: Flask) -> None:
    """``country_name(code)`` for the templates."""
    app.jinja_env.globals["country_name"] = name
