"""The language switch."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired

LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}


class LanguageForm(FlaskForm):  # type: ignore[misc]
    """One of the languages adgate speaks; ``next`` brings the user back to the page."""

    lang = HiddenField(validators=[DataRequired(), AnyOf(tuple(LANGUAGE_NAMES))])
    next = HiddenField()
