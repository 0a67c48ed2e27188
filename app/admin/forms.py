"""Forms of the account administration."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Optional

from app.inputs import Checked
from app.models import Role
from workflows import delivery

ROLE_LABELS = {
    Role.MANAGER: _l("Ad manager"),
    Role.REVIEWER: _l("Reviewer"),
    Role.AUDITOR: _l("Auditor"),
    Role.ADMIN: _l("Administrator"),
}


class InviteForm(FlaskForm):  # type: ignore[misc]
    """A person to invite: the address the mail goes to, the role, the mail's language."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Checked("email")])
    role = SelectField(
        _l("Role"), choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )
    # Choices and default from LANGUAGES and BABEL_DEFAULT_LOCALE (the view sets them).
    locale = SelectField(
        _l("Language of the invitation"),
        description=_l("The mail and the page where the person sets a password."),
    )
    submit = SubmitField(_l("Send invitation"))


class ConfirmAccountForm(FlaskForm):  # type: ignore[misc]
    """A second person confirms a reviewer or admin created on the pages, with a code."""

    user = SelectField(_l("Account"), coerce=int)
    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    # Not "submit": the page's other form has a button with that id.
    confirm = SubmitField(_l("Confirm the account"))


class AccountActionForm(FlaskForm):  # type: ignore[misc]
    """Enable or disable: only the CSRF token."""


class AdAccountForm(FlaskForm):  # type: ignore[misc]
    """An ad account and its page."""

    account_id = StringField(
        _l("Ad account id"), validators=[DataRequired(), Checked("ad_account_id")]
    )
    page_id = StringField(_l("Page id"), validators=[DataRequired(), Checked("page_id")])
    name = StringField(_l("Name"), validators=[DataRequired(), Checked("ad_account_name")])
    currency = SelectField(
        _l("Currency"),
        description=_l("As Meta shows it for the ad account; budgets are entered in it."),
        choices=[SelectChoice(c, c) for c in sorted(delivery.CURRENCIES)],
        default="CHF",
    )
    submit = SubmitField(_l("Register"))


class CurrencyForm(FlaskForm):  # type: ignore[misc]
    """The ad account's currency at Meta."""

    currency = SelectField(
        _l("Currency"), choices=[SelectChoice(c, c) for c in sorted(delivery.CURRENCIES)]
    )
    submit = SubmitField(_l("Save currency"))


class AuthorizationForm(FlaskForm):  # type: ignore[misc]
    """Meta authorized the page in a country, as the admin saw it; with a second factor."""

    country = SelectField(_l("Country"))
    since = DateField(_l("Authorized since"), validators=[Optional()])
    disclaimer = StringField(
        _l('"Paid for by" disclaimer registered there'),
        description=_l("Exactly as Meta shows it (optional here; add more below)."),
        validators=[Checked("disclaimer")],
    )
    evidence = TextAreaField(
        _l("Evidence seen"),
        description=_l(
            "Where you saw it at Meta and when (e.g. Page settings, Issue, electoral or political "
            "ads). Describe it; upload nothing."
        ),
        validators=[DataRequired(), Checked("evidence")],
    )
    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Record the authorization"))


class DisclaimerForm(FlaskForm):  # type: ignore[misc]
    """A "paid for by" text registered at Meta in an authorized country."""

    country = SelectField(_l("Country"))
    text = StringField(_l('"Paid for by" text'), validators=[DataRequired(), Checked("disclaimer")])
    evidence = TextAreaField(_l("Evidence seen"), validators=[DataRequired(), Checked("evidence")])
    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Record the disclaimer"))


class RestoreForm(FlaskForm):  # type: ignore[misc]
    """Why the eligibility is restored."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Checked("reason")])
    submit = SubmitField(_l("Restore eligibility"))
