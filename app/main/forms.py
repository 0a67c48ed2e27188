"""The language switch."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired

# Each language named in itself, as the switch offers it.
LANGUAGE_NAMES = {"de": "Deutsch", "fr": "Français", "it": "Italiano", "en": "English"}


class LanguageForm(FlaskForm):  # type: ignore[misc]
    """One of the languages adgate speaks; ``next`` brings the user back to the page."""

    lang = HiddenField(validators=[DataRequired(), AnyOf(tuple(LANGUAGE_NAMES))])
    next = HiddenField()
