"""Forms of the sign-in and two-factor pages: they check the shape of the input, nothing more."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Optional

from app.inputs import Checked


class LoginForm(FlaskForm):  # type: ignore[misc]
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Checked("login_email")])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Checked("password")])
    submit = SubmitField(_l("Sign in"))


def _code_field(label: str) -> StringField:
    return StringField(
        label,
        validators=[DataRequired(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )


class CodeForm(FlaskForm):  # type: ignore[misc]
    """A code from the authenticator app, or a recovery code."""

    code = _code_field(_l("Code"))
    submit = SubmitField(_l("Confirm"))


class EnrolForm(FlaskForm):  # type: ignore[misc]
    """The first code from the newly set-up authenticator app."""

    code = _code_field(_l("Code from the app"))
    submit = SubmitField(_l("Turn on two-factor authentication"))


class RecoveryCodesForm(FlaskForm):  # type: ignore[misc]
    """A current code, to make new recovery codes."""

    code = _code_field(_l("Current code"))
    submit = SubmitField(_l("Generate new recovery codes"))


class DisableForm(FlaskForm):  # type: ignore[misc]
    """Password and a current code, to turn two-factor authentication off."""

    password = PasswordField(_l("Password"), validators=[DataRequired(), Checked("password")])
    code = _code_field(_l("Current code"))
    submit = SubmitField(_l("Turn off two-factor authentication"))


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    """The current password, the new one twice, and a current code where 2FA is on."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Checked("password")],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Checked("password")],
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(),
            EqualTo("new_password", message=_l("The two new passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    # Required by the view when the account has 2FA (the form does not know the account).
    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Change password"))


class AcceptInvitationForm(FlaskForm):  # type: ignore[misc]
    """The invited person's own password, twice."""

    new_password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(), Checked("password")],
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        _l("Your password again"),
        validators=[
            DataRequired(),
            EqualTo("new_password", message=_l("The two passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set password"))
