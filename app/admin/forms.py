"""Forms of the account administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length

from app.models import Role

ROLE_LABELS = {
    Role.MANAGER: _l("Ad manager"),
    Role.REVIEWER: _l("Reviewer"),
    Role.AUDITOR: _l("Auditor"),
    Role.ADMIN: _l("Administrator"),
}


class CreateUserForm(FlaskForm):  # type: ignore[misc]
    """A new account: the admin sets a first password and hands it over."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        _l("Role"), choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(max=128)])
    submit = SubmitField(_l("Create account"))


class AccountActionForm(FlaskForm):  # type: ignore[misc]
    """Enable or disable: only the CSRF token."""


class AdAccountForm(FlaskForm):  # type: ignore[misc]
    """An ad account and its page."""

    account_id = StringField(_l("Ad account id"), validators=[DataRequired(), Length(max=32)])
    page_id = StringField(_l("Page id"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Register"))


class RestoreForm(FlaskForm):  # type: ignore[misc]
    """Why the eligibility is restored."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField(_l("Restore eligibility"))
