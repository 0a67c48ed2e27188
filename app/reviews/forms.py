"""The reviewers' forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    SelectChoice,
    SelectField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.checklists.forms import ChecklistFilterForm, StepUpForm
from app.checklists.steps import DOCUMENT_LABELS
from app.countries import CountryField
from app.inputs import Checked
from app.paging import PagingFields
from workflows import policy


def _version(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


class ApproveForm(StepUpForm):
    """The approval: the code when it is not fresh, and the version the reviewer was shown
    (an approval counts only for content the reviewer saw)."""

    version = HiddenField()

    def shown_version(self) -> int | None:
        """The version the page showed, or None when it is missing or not a version."""
        return _version(self.version.data)


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


class IdentityRequestForm(FlaskForm):  # type: ignore[misc]
    """An ad manager asks the reviewers to verify their identity for a country an ad may
    target; ``next``: the page to return to (the checklist the request was made from)."""

    country = CountryField(
        _l("Country of the document"),
        codes=policy.TARGETABLE,
        validators=[DataRequired(message=_l("Choose a country."))],
    )
    note = TextAreaField(
        _l("Note for the reviewers (optional)"),
        description=_l(
            "For example when you can show your document. Never write the document's number."
        ),
        validators=[Optional(), Length(max=500)],
        render_kw={"rows": 2},
    )
    next = HiddenField()
    submit = SubmitField(_l("Ask a reviewer"))


QUEUE_ORDERS = {
    "oldest": _l("Waiting longest first"),
    "changed": _l("Last changed first"),
    "title": _l("Title"),
}


class QueueFilterForm(PagingFields, FlaskForm):  # type: ignore[misc]
    """Which drafts the review queue shows and in which order; the other drafts a page at a
    time (a GET form: no CSRF token, nothing changes)."""

    class Meta:
        csrf = False

    country = ChecklistFilterForm.country
    validate_country = ChecklistFilterForm.validate_country
    # The managers whose drafts wait (set by the view).
    owner = SelectField(_l("Owner"), choices=[], validators=[Optional()])
    sort = SelectField(
        _l("Order"),
        choices=[SelectChoice(k, v) for k, v in QUEUE_ORDERS.items()],
        default="oldest",
        validators=[Optional()],
    )


class CommentForm(FlaskForm):  # type: ignore[misc]
    """A comment in the checklist's conversation."""

    body = TextAreaField(
        _l("Your comment"),
        validators=[DataRequired(message=_l("Write a comment.")), Checked("comment")],
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Add comment"))


class ChangeRequestForm(FlaskForm):  # type: ignore[misc]
    """A reviewer sends the ad back: the reason, and the version the reviewer was shown
    (the ad changed since: nothing is sent back, the reason is kept)."""

    comment = TextAreaField(
        _l("What must change"),
        description=_l("The ad's owner reads this at the top of the ad's page."),
        validators=[DataRequired(message=_l("Say what must change.")), Checked("comment")],
        render_kw={"rows": 3},
    )
    version = HiddenField()
    submit = SubmitField(_l("Request changes"))

    def shown_version(self) -> int | None:
        """The version the page showed, or None when it is missing or not a version."""
        return _version(self.version.data)
