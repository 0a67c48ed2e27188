"""The reviewers' forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectChoice, SelectField, SubmitField
from wtforms.validators import DataRequired

from app.checklists.forms import StepUpForm
from app.checklists.steps import DOCUMENT_LABELS
from app.countries import CountryField


class ApproveForm(StepUpForm):
    """The approval: the code when it is not fresh, and the version the reviewer was shown
    (an approval counts only for content the reviewer saw)."""

    version = HiddenField()

    def shown_version(self) -> int | None:
        """The version the page showed, or None when it is missing or not a version."""
        raw = (self.version.data or "").strip()
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


class IdentityForm(FlaskForm):  # type: ignore[misc]
    """What a reviewer records of a document: never its number, never a copy."""

    user = SelectField(_l("Person"), coerce=int, validators=[DataRequired()])
    document_type = SelectField(
        _l("Document"), choices=[SelectChoice(k, v) for k, v in DOCUMENT_LABELS.items()]
    )
    # Any ISO 3166-1 country, chosen by its name (typing "Schweiz" picks Switzerland).
    issuing_country = CountryField(
        _l("Issuing country"), validators=[DataRequired(message=_l("Choose a country."))]
    )
    expires_on = DateField(_l("Valid until"), validators=[DataRequired()])
    submit = SubmitField(_l("Record verification"))
