"""The API tokens pages' forms: issuing a token (for oneself only) and revoking one."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.api import tokens
from app.inputs import Checked

LIFETIMES = ((30, _l("30 days")), (90, _l("90 days")), (180, _l("180 days")), (365, _l("1 year")))
SCOPE_LABELS = {
    "checklists:read": _l("read checklists and submissions"),
    "checklists:write": _l("create, edit, classify, attest and withdraw checklists"),
    "submissions:write": _l("submit checklists to Meta"),
    "identity:write": _l("record identity verifications"),
    "approvals:write": _l("approve checklists (with a code per approval)"),
    "audit:read": _l("read and verify the audit log"),
}


class TokenForm(FlaskForm):  # type: ignore[misc]
    """A token for the signed-in person: there is no owner to choose."""

    name = StringField(
        _l("Name (what the token is for)"), validators=[DataRequired(), Checked("token_name")]
    )
    scopes = SelectMultipleField(
        _l("Scopes"),
        choices=[SelectChoice(s, s) for s in tokens.SCOPES],  # labelled per request, see below
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validators=[DataRequired(message=_l("Choose at least one scope."))],
    )
    days = SelectField(
        _l("Valid for"),
        coerce=int,
        choices=[SelectChoice(d, label) for d, label in LIFETIMES],
        default=90,
    )
    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Create token"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each scope with what it allows, in the reader's language (an f-string at import
        # time would have fixed the English text for everyone).
        self.scopes.choices = [SelectChoice(s, scope_label(s)) for s in tokens.SCOPES]


def scope_label(scope: str) -> str:
    """``checklists:read: read checklists and submissions``, the description translated."""
    return f"{scope}: {SCOPE_LABELS[scope]}"


class RevokeForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token."""
