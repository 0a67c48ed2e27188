"""The ad managers' forms: they check the shape of the input; the workflow checks the rules."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlmodel import col
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.checklists.steps import (
    BUDGET_LABELS,
    CATEGORY_LABELS,
    PLACEMENT_LABELS,
    STATE_LABELS,
    TOPIC_LABELS,
)
from app.countries import CountriesField
from app.db import get_session
from app.inputs import Checked
from app.models import AdAccount
from app.paging import PagingFields
from workflows import policy


def ad_accounts() -> list[tuple[str, str]]:
    """The registered ad accounts as choices, each with its page, by name."""
    accounts = get_session().scalars(select(AdAccount).order_by(col(AdAccount.name))).all()
    return [("", str(_l("Choose an ad account")))] + [
        (a.id, str(_l("%(name)s · %(account)s · page %(page)s", name=a.name, account=a.id,
                      page=a.page_id)))
        for a in accounts
    ]  # fmt: skip


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ChecklistForm(FlaskForm):  # type: ignore[misc]
    """The ad and where it runs."""

    # Each text field's rule (characters, length, pattern) is the API's too: app.inputs.
    title = StringField(
        _l("Title (for adgate only)"), validators=[DataRequired(), Checked("title")]
    )
    # One choice for both: a page is registered with its ad account (``adform.accounts``).
    ad_account_id = SelectField(
        _l("Ad account and page"),
        description=_l("The ad accounts registered in adgate, each with its Facebook page."),
        choices=ad_accounts,
        validators=[DataRequired(message=_l("Choose an ad account."))],
    )
    headline = StringField(_l("Headline"), validators=[DataRequired(), Checked("headline")])
    message = TextAreaField(_l("Ad text"), validators=[DataRequired(), Checked("message")])
    link_url = URLField(_l("Link"), validators=[DataRequired(), Checked("link_url")])
    countries = CountriesField(
        _l("Target countries"),
        codes=policy.TARGETABLE,
        description=_l(
            "The countries adgate knows Meta's rules for. Ads about social issues, elections "
            "or politics cannot run in EU countries (Meta refuses them since 6 October 2025)."
        ),
        validators=[DataRequired(message=_l("Choose at least one target country."))],
    )
    paid_for_by = StringField(
        _l("Paid for by"),
        description=_l("The disclaimer set up for the page at Meta, e.g. Stadt Musterstadt"),
        validators=[Checked("paid_for_by")],
    )
    dsa_payor = StringField(_l("DSA payor (EU)"), validators=[Checked("dsa_payor")])
    dsa_beneficiary = StringField(
        _l("DSA beneficiary (EU)"), validators=[Checked("dsa_beneficiary")]
    )
    budget_type = RadioField(
        _l("Budget"),
        choices=[SelectChoice(k, v) for k, v in BUDGET_LABELS.items()],
        default="daily",
        validators=[InputRequired()],
    )
    budget_amount = DecimalField(
        _l("Amount"),
        description=_l("In the ad account's currency, e.g. 10.00"),
        places=2,
        default=10,
        validators=[
            InputRequired(),
            NumberRange(min=0.01, max=21_474_836, message=_l("Enter an amount above zero.")),
        ],
        render_kw={"inputmode": "decimal"},
    )
    start_time = DateTimeLocalField(
        _l("Start"),
        description=_l("Empty: the ad starts when it is activated."),
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
    )
    end_time = DateTimeLocalField(
        _l("End"),
        description=_l("Empty: the ad runs until it is stopped (a lifetime budget needs an end)."),
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
    )
    placements = MultiCheckboxField(
        _l("Placements"),
        choices=[SelectChoice(k, v) for k, v in PLACEMENT_LABELS.items()],
        default=list(PLACEMENT_LABELS),
        validators=[DataRequired(message=_l("Choose at least one placement."))],
    )
    image = FileField(
        _l("Image"),
        description=_l("PNG or JPEG, at least 600 x 600 pixels, at most 8 MB."),
        render_kw={"accept": "image/png,image/jpeg"},
    )
    remove_image = BooleanField(_l("Remove the image"))
    # Shown once the form warned that the chosen countries refuse this kind of ad.
    save_anyway = BooleanField(
        _l("Save it anyway: I know that the ad cannot run in these countries.")
    )
    version = HiddenField()
    submit = SubmitField(_l("Save"))


class ClassificationForm(FlaskForm):  # type: ignore[misc]
    """The ad manager's classification."""

    category = RadioField(
        _l("Classification"),
        choices=[SelectChoice(k, v) for k, v in CATEGORY_LABELS.items()],
        validators=[InputRequired()],
    )
    social_issues = MultiCheckboxField(
        _l("Social-issue topics"),
        choices=[SelectChoice(k, v) for k, v in TOPIC_LABELS.items()],
        validators=[Optional()],
    )
    digitally_created_media = BooleanField(
        _l("The ad contains digitally created or altered images, video or audio")
    )
    justification = TextAreaField(
        _l("Justification (when the ad is none of these)"), validators=[Checked("justification")]
    )
    version = HiddenField()
    submit = SubmitField(_l("Save classification"))


class AttestForm(FlaskForm):  # type: ignore[misc]
    """The owner's declaration about the Facebook account."""

    confirm = BooleanField(validators=[DataRequired(message=_l("Tick the box to confirm."))])
    submit = SubmitField(_l("Confirm"))


class StepUpForm(FlaskForm):  # type: ignore[misc]
    """An action that needs a fresh code (submit, approve): the code when it is not fresh."""

    code = StringField(
        _l("Current code"),
        validators=[Optional(), Checked("code")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button: only the CSRF token."""


SORTS = {
    "changed": _l("Last changed first"),
    "oldest": _l("Least recently changed first"),
    "title": _l("Title"),
    "number": _l("Newest first"),
}


class ChecklistFilterForm(PagingFields, FlaskForm):  # type: ignore[misc]
    """Which ads the list shows, in which order, a page at a time (a GET form: no CSRF
    token, nothing changes)."""

    class Meta:
        csrf = False

    state = SelectField(
        _l("State"),
        choices=[SelectChoice("", _l("any"))]
        + [SelectChoice(k, v) for k, v in STATE_LABELS.items()],
        validators=[Optional()],
    )
    country = StringField(
        _l("Country"),
        description=_l("An ISO code, e.g. CH"),
        validators=[Optional(), Length(min=2, max=2)],
        render_kw={"size": 4, "autocomplete": "off"},
    )
    # The choices are the owners the reader sees (set by the view; admins only).
    owner = SelectField(_l("Owner"), choices=[], validators=[Optional()])
    sort = SelectField(
        _l("Order"),
        choices=[SelectChoice(k, v) for k, v in SORTS.items()],
        default="changed",
        validators=[Optional()],
    )

    def validate_country(self, field: Any) -> None:
        """An ISO 3166-1 code (any case)."""
        if field.data:
            try:
                field.data = policy.check_country(field.data.strip().upper())
            except policy.InvalidCountry:
                raise ValidationError(_l("Use an ISO country code such as CH.")) from None


class WithdrawForm(FlaskForm):  # type: ignore[misc]
    """Withdrawing the ad: it cannot be undone, so the reason is asked (and audited)."""

    reason = TextAreaField(
        _l("Why is the ad withdrawn?"),
        description=_l("Recorded in the audit log. A withdrawn ad cannot be sent again; "
                       "duplicate it as a new draft to start over."),
        validators=[DataRequired(message=_l("Give the reason.")), Checked("reason")],
    )  # fmt: skip
    submit = SubmitField(_l("Withdraw the ad"))
