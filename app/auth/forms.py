"""Forms of the sign-in pages: they check the shape of the input, nothing more."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    submit = SubmitField(_l("Sign in"))


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Nothing but the CSRF token: signing out is a POST."""

    submit = SubmitField(_l("Sign out"))
