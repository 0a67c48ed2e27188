"""The reviewers' forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from app.checklists.steps import DOCUMENT_LABELS


class IdentityForm(FlaskForm):  # type: ignore[misc]
    """What a reviewer records of a document: never its number, never a copy."""

    user = SelectField(_l("Person"), coerce=int, validators=[DataRequired()])
    document_type = SelectField(
        _l("Document"), choices=[SelectChoice(k, v) for k, v in DOCUMENT_LABELS.items()]
    )
    issuing_country = StringField(
        _l("Issuing country"),
        description=_l("ISO code, e.g. CH"),
        validators=[
            DataRequired(),
            Length(min=2, max=2),
            Regexp(r"^[A-Za-z]{2}$", message=_l("Two letters, e.g. CH.")),
        ],
    )
    expires_on = DateField(_l("Valid until"), validators=[DataRequired()])
    submit = SubmitField(_l("Record verification"))
