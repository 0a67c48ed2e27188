"""An ad as entered, on the pages or through the API, and every problem with it: its shape
(countries adgate can target, ids, the link, delivery) and what only the database knows
(the ad account registered with its page, the owner's image). All problems are found at
once, so that a form shows them in one round and the API names them in one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app import inputs
from app.models import AdAccount, AdImage, Checklist
from workflows import delivery, policy
from workflows.delivery import ALL_PLACEMENTS, Budget, BudgetType, Placement, Schedule


class ChecklistError(ValueError):
    """Input a checklist cannot take; ``field`` names where, ``code`` is stable. ``all``
    holds every problem of the input (this one first), so that all are shown at once."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code
        self.all: tuple[ChecklistError, ...] = (self,)


def refuse(problems: Sequence[ChecklistError]) -> None:
    """Raise the first of ``problems`` carrying all of them; nothing when there are none."""
    if problems:
        first = problems[0]
        first.all = tuple(problems)
        raise first


@dataclass(frozen=True)
class AdInput:
    """A checklist's fields as entered (shape already checked by the form or the API model)."""

    title: str
    page_id: str
    ad_account_id: str
    message: str
    headline: str
    link_url: str
    countries: Sequence[str]
    paid_for_by: str = ""
    dsa_payor: str = ""
    dsa_beneficiary: str = ""
    budget_type: str = BudgetType.DAILY
    budget_amount: int = delivery.DEFAULT_DAILY_BUDGET
    start_time: datetime | None = None
    end_time: datetime | None = None
    placements: Sequence[str] = tuple(p.value for p in ALL_PLACEMENTS)
    image_id: int | None = None

    def values(self) -> dict[str, Any]:
        """The values as stored, with the rules the form cannot know checked (every problem
        at once: ``ChecklistError.all``)."""
        values, problems = self.read()
        refuse(problems)
        return values

    def read(self) -> tuple[dict[str, Any], list[ChecklistError]]:
        """The values as stored, and every problem found in them."""
        problems: list[ChecklistError] = []
        countries = []
        for raw in self.countries:
            code = raw.strip().upper()
            try:
                countries.append(policy.check_country(code))
            except policy.InvalidCountry as exc:
                problems.append(ChecklistError("countries", "country_invalid", str(exc)))
                continue
            if code not in policy.TARGETABLE:
                problems.append(
                    ChecklistError(
                        "countries",
                        "country_unsupported",
                        f"adgate has no rules for {code}; an ad can target "
                        f"{', '.join(sorted(policy.TARGETABLE))}",
                    )
                )
        if not self.countries:
            problems.append(
                ChecklistError("countries", "countries_missing", "choose at least one country")
            )
        # ASCII digits only: str.isdigit() takes other scripts' digits too.
        if not inputs.valid("ad_account_id", self.ad_account_id):
            problems.append(
                ChecklistError(
                    "ad_account_id", "ad_account_invalid", "an ad account id looks like act_1234"
                )
            )
        if not inputs.valid("page_id", self.page_id):
            problems.append(ChecklistError("page_id", "page_invalid", "a page id is a number"))
        if not self.link_url.startswith(("https://", "http://")):
            problems.append(
                ChecklistError("link_url", "link_invalid", "the link must start with https://")
            )
        try:
            budget, schedule, placements = self.delivery()
        except ChecklistError as exc:
            problems.append(exc)
            return {}, problems
        problems += [
            ChecklistError(p.field, p.code, p.detail)
            for p in delivery.shape_errors(budget, schedule, placements)
        ]
        return {
            "title": self.title.strip(),
            "page_id": self.page_id,
            "ad_account_id": self.ad_account_id,
            "message": self.message.strip(),
            "headline": self.headline.strip(),
            "link_url": self.link_url.strip(),
            "countries": sorted(set(countries)),
            "paid_for_by": self.paid_for_by.strip(),
            "dsa_payor": self.dsa_payor.strip(),
            "dsa_beneficiary": self.dsa_beneficiary.strip(),
            "budget_type": budget.type,
            "budget_amount": budget.amount,
            "start_time": schedule.start,
            "end_time": schedule.end,
            # Stored in one order, so that the same choice never counts as a change.
            "placements": [p.value for p in ALL_PLACEMENTS if p in placements],
            "image_id": self.image_id,
        }, problems

    def delivery(self) -> tuple[Budget, Schedule, tuple[Placement, ...]]:
        """Budget, schedule and placements as the workflow takes them (shape errors raised)."""
        try:
            budget_type = BudgetType(self.budget_type)
        except ValueError:
            raise ChecklistError(
                "budget_type", "budget_type_invalid", "the budget is daily or lifetime"
            ) from None
        try:
            placements = tuple(Placement(p) for p in self.placements)
        except ValueError:
            raise ChecklistError(
                "placements", "placement_invalid", "placements are facebook and instagram"
            ) from None
        if isinstance(self.budget_amount, bool) or not isinstance(self.budget_amount, int):
            raise ChecklistError("budget", "amount_invalid", "the budget is a whole amount")
        return (
            Budget(budget_type, self.budget_amount),
            Schedule(self.start_time, self.end_time),
            placements,
        )


def _image_problems(db: Session, owner_id: int, image_id: int | None) -> list[ChecklistError]:
    """An ad may use only an image its owner uploaded."""
    if image_id is None:
        return []
    image = db.get(AdImage, image_id)
    if image is None or image.owner_id != owner_id:
        return [ChecklistError("image", "image_unknown", f"there is no image {image_id} of yours")]
    return []


def _account_problems(db: Session, ad_account_id: str, page_id: str) -> list[ChecklistError]:
    """An ad names a registered ad account and the page registered for it."""
    if not inputs.valid("ad_account_id", ad_account_id):
        return []  # refused for its shape already
    account = db.get(AdAccount, ad_account_id)
    if account is None:
        return [
            ChecklistError(
                "ad_account_id",
                "ad_account_unknown",
                f"the ad account {ad_account_id} is not registered in adgate; ask an admin",
            )
        ]
    if inputs.valid("page_id", page_id) and page_id != account.page_id:
        return [
            ChecklistError(
                "page_id",
                "page_mismatch",
                f"the ad account {ad_account_id} is registered for page {account.page_id}, "
                f"not {page_id}",
            )
        ]
    return []


def problems(
    db: Session, owner_id: int, ad: AdInput, checklist: Checklist | None = None
) -> tuple[dict[str, Any], list[ChecklistError]]:
    """The ad's values and every problem with them, for a new checklist or a change of
    ``checklist`` (whose ad account and image are checked again only when they change:
    an account deregistered later is the standing check's to report)."""
    values, found = ad.read()
    if not values:
        return values, found
    if checklist is None or values["image_id"] != checklist.image_id:
        found += _image_problems(db, owner_id, values["image_id"])
    if checklist is None or (values["ad_account_id"], values["page_id"]) != (
        checklist.ad_account_id,
        checklist.page_id,
    ):
        found += _account_problems(db, values["ad_account_id"], values["page_id"])
    return values, found
