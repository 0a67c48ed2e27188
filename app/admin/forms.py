"""Forms of the account administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, SubmitField
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
