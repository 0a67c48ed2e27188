"""The ad's form and the checklist service: the form read as an ``AdInput`` (its image
uploaded, its times in the installation's zone as UTC, its amount in minor units), filled
from a saved checklist, the service's refusals shown on its fields, and the differences
a stale form has from the saved ad."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from app.checklists import images, service, steps
from app.checklists.forms import ChecklistForm
from app.db import get_session
from app.i18n import format_datetime
from app.models import AdAccount, Checklist, utcnow
from app.suggester import get_suggester
from workflows import delivery, policy
from workflows.checks import Category
from workflows.policy import AdKind


def _offset(ad_account_id: str) -> int:
    """How many minor units make one unit of the ad account's currency (100 when unknown)."""
    account = get_session().get(AdAccount, ad_account_id.strip())
    currency = delivery.CURRENCIES.get(account.currency or "") if account else None
    return currency.offset if currency else 100


def _zone() -> ZoneInfo:
    """The installation's time zone, in which times are entered on the pages."""
    # zoneinfo, not the pytz zone Flask-Babel returns: replace(tzinfo=…) with a pytz zone
    # would use its historic local mean time (Berlin: +0:53).
    return ZoneInfo(str(get_timezone()))


def _utc(local: datetime | None) -> datetime | None:
    """A time entered on the page, in the installation's time zone, as UTC."""
    if local is None:
        return None
    return local.replace(tzinfo=_zone()).astimezone(UTC)


def _local(moment: datetime | None) -> datetime | None:
    """A stored time as the page shows it (the installation's time zone, no zone shown)."""
    return moment.astimezone(_zone()).replace(tzinfo=None) if moment else None


def _image_id(form: ChecklistForm, current: int | None) -> int | None:
    """The image the ad uses after the form: an upload, the removal, or the one it had.

    Raises ImageError for an upload that is not a usable image (shown on the field).
    """
    upload = form.image.data
    if isinstance(upload, FileStorage) and upload.filename:
        image = images.upload(get_session(), current_user.user, upload.read(), utcnow())
        return image.id
    if form.remove_image.data:
        return None
    return current


def _ad_input(form: ChecklistForm, image_id: int | None) -> service.AdInput:
    ad_account_id = (form.ad_account_id.data or "").strip()
    account = get_session().get(AdAccount, ad_account_id) if ad_account_id else None
    amount = (form.budget_amount.data or Decimal(0)) * _offset(ad_account_id)
    return service.AdInput(
        title=form.title.data or "",
        # The page is the one registered with the chosen ad account.
        page_id=account.page_id if account else "",
        ad_account_id=ad_account_id,
        message=form.message.data or "",
        headline=form.headline.data or "",
        link_url=form.link_url.data or "",
        countries=list(form.countries.data or []),
        paid_for_by=form.paid_for_by.data or "",
        dsa_payor=form.dsa_payor.data or "",
        dsa_beneficiary=form.dsa_beneficiary.data or "",
        budget_type=form.budget_type.data,
        budget_amount=int(amount.to_integral_value()),
        start_time=_utc(form.start_time.data),
        end_time=_utc(form.end_time.data),
        placements=list(form.placements.data or []),
        image_id=image_id,
    )


def fill(form: ChecklistForm, checklist: Checklist) -> None:
    """The form's fields from the saved checklist (what the form shows differently)."""
    form.countries.data = list(checklist.countries)
    form.version.data = str(checklist.version)
    form.budget_amount.data = Decimal(checklist.budget_amount) / _offset(checklist.ad_account_id)
    form.start_time.data = _local(checklist.start_time)
    form.end_time.data = _local(checklist.end_time)
    form.placements.data = list(checklist.placements)


def read(form: ChecklistForm, checklist: Checklist | None) -> service.AdInput | None:
    """The form as an ad, its image uploaded; None (errors on the fields) when it is not one.

    Called also when the form's own validation failed, so that the service's findings are
    shown with the form's at once (the request is rolled back then, the upload with it).
    """
    try:
        image_id = _image_id(form, checklist.image_id if checklist else None)
    except images.ImageError as exc:
        form.image.errors = [*form.image.errors, _image_error(exc)]
        return None
    return _ad_input(form, image_id)


def check(form: ChecklistForm, checklist: Checklist | None) -> service.AdInput | None:
    """The ad if the form and the service find nothing wrong with it; else None, with every
    problem on its field (one round: the form's errors and the service's together)."""
    valid = form.validate_on_submit()
    ad = read(form, checklist)
    if ad is None:
        return None
    owner_id = checklist.owner_id if checklist else current_user.id
    _, found = service.problems(get_session(), owner_id, ad, checklist)
    for problem in found:
        field_error(form, problem, only_if_clean=True)
    return ad if valid and not found else None


def _image_error(exc: images.ImageError) -> str:
    messages = {
        "image_empty": _("The file is empty."),
        "image_too_large": _("The image is too large (at most 8 MB)."),
        "image_type": _("The file is not a PNG or JPEG image."),
        "image_dimensions": _(
            "The image must be at least 600 x 600 and at most 8000 x 8000 pixels."
        ),
        "image_ratio": _(
            "The image's width must be between 0.8 and 1.91 times its height (4:5 to 1.91:1)."
        ),
    }
    return str(messages.get(exc.code, str(exc)))


def field_error(form: Any, exc: service.ChecklistError, *, only_if_clean: bool = False) -> None:
    """Show each problem of ``exc`` on its field (``only_if_clean``: not on a field that
    shows an error already, the form's own saying it better)."""
    messages = {
        "country_invalid": _("Choose the countries from the list."),
        "country_unsupported": _("Choose the countries from the list."),
        "countries_missing": _("Choose at least one target country."),
        "ad_account_invalid": _("Choose an ad account."),
        "ad_account_unknown": _("This ad account is not registered in adgate; ask an admin."),
        "page_invalid": _("Choose an ad account."),
        "page_mismatch": _("The page is not the one registered for this ad account."),
        "link_invalid": _("The link must start with https:// or http://."),
        "topic_unknown": _("Unknown topic."),
        "amount_invalid": _("Enter an amount above zero."),
        "end_missing": _("A lifetime budget needs an end time."),
        "end_before_start": _("The end must be after the start."),
        "placements_missing": _("Choose at least one placement."),
        "image_unknown": _("This image is not one of yours."),
    }
    # The page's form chooses the page with the ad account.
    names = {"budget": "budget_amount", "image": "image", "page_id": "ad_account_id"}
    for problem in exc.all:
        field = getattr(form, names.get(problem.field, problem.field), None)
        text = str(messages.get(problem.code, str(problem)))
        if field is None:
            flash(text, "danger")
        elif not (only_if_clean and field.errors) and text not in field.errors:
            field.errors = [*field.errors, text]


@dataclass(frozen=True)
class RefusalAhead:
    """The chosen countries will refuse the ad: which, why, and what the kind rests on
    (``classified``: the ad's classification; ``suggested``: adgate's reading of its text,
    as Meta reads ads by their content)."""

    refusal: steps.Refusal
    because: str


def refusal_ahead(
    form: ChecklistForm, checklist: Checklist | None, now: datetime
) -> RefusalAhead | None:
    """Whether saving the form makes target countries refuse the ad, before anything is saved;
    None also when the saved ad was refused in those countries already (nothing new)."""
    kind, because = _kind(f"{form.headline.data}\n{form.message.data}", checklist)
    if kind is None:
        return None
    today = now.date()
    rules = policy.refusing(_codes(form.countries.data or ()), kind, today)
    if checklist is not None:
        before = {r.country for r in policy.refusing(tuple(checklist.countries), kind, today)}
        if {r.country for r in rules} <= before:
            return None
    if not rules:
        return None
    params = {"basis": ", ".join(sorted({r.basis for r in rules if r.basis})),
              "reference": "; ".join(sorted({r.reference for r in rules}))}  # fmt: skip
    refusal = steps.refusal_for(
        ", ".join(r.country for r in rules),
        ", ".join(sorted({r.since.isoformat() for r in rules})),
        params,
    )
    return RefusalAhead(refusal, because)


def _kind(text: str, checklist: Checklist | None) -> tuple[AdKind | None, str]:
    """The kind of the ad: its classification, else what adgate reads in its ``text``."""
    if checklist is not None and checklist.category is not None:
        siep = Category(checklist.category).is_siep
        return (AdKind.SIEP if siep else AdKind.OTHER), "classified"
    read = get_suggester().suggest(text)
    return (AdKind.SIEP if read.label == "political" else None), "suggested"


def _codes(countries: Sequence[str]) -> tuple[str, ...]:
    """The valid ISO codes among the chosen countries (the service refuses the others)."""
    found = []
    for raw in countries:
        try:
            found.append(policy.check_country(raw.strip().upper()))
        except policy.InvalidCountry:
            continue
    return tuple(found)


# The form field that shows each stored field (the image is an upload, shown apart).
FORM_FIELD = {"image_id": "image", "page_id": "ad_account_id"}


def differences(form: ChecklistForm, checklist: Checklist) -> list[tuple[str, str, str, str]]:
    """Every field where the saved checklist and the user's stale form differ."""
    saved = ChecklistForm(formdata=None, obj=checklist)
    fill(saved, checklist)
    rows = []
    for name in service.FIELDS:
        if name in FORM_FIELD:
            continue
        mine, theirs = _shown(form[name]), _shown(saved[name])
        if mine != theirs:
            rows.append((name, str(form[name].label.text), theirs, mine))
    return rows


def _shown(field: Any) -> str:
    """A form field's value as the conflict table shows it."""
    data = field.data
    if isinstance(data, list):
        return ", ".join(str(PLACEMENT_NAMES.get(v, v)) for v in data)
    if isinstance(data, datetime):
        return format_datetime(data, as_typed=True)
    if isinstance(data, Decimal):
        return f"{data:.2f}"
    if data is None:
        return ""
    return str(data).strip()


PLACEMENT_NAMES = steps.PLACEMENT_LABELS


def version(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        abort(400)
