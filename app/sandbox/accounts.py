"""The ad accounts the sandbox knows, each with its page and Meta's political-ad authorization
(``tools/sandbox_accounts.py`` registers the same accounts in adgate)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SandboxAccount:
    """An ad account the sandbox knows, with its page and Meta's political-ad authorization.

    ``authorizations`` maps each country the page is authorized in to the "paid for by"
    disclaimers registered there.
    """

    id: str
    name: str
    page_id: str
    currency: str
    min_daily_budget: int
    authorizations: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default_dsa_payor: str | None = None
    default_dsa_beneficiary: str | None = None

    @property
    def page_authorized(self) -> bool:
        """``has_page_authorized_adaccount``: the page authorized the account somewhere."""
        return bool(self.authorizations)

    def as_dict(self) -> dict[str, Any]:
        """The account's Graph fields (and, for ``/__sandbox__/objects``, its authorizations)."""
        return {
            "id": self.id,
            "account_id": self.id.removeprefix("act_"),
            "name": self.name,
            "currency": self.currency,
            "min_daily_budget": self.min_daily_budget,
            "has_page_authorized_adaccount": self.page_authorized,
            "default_dsa_payor": self.default_dsa_payor,
            "default_dsa_beneficiary": self.default_dsa_beneficiary,
            "page_id": self.page_id,
            "authorizations": {c: sorted(d) for c, d in sorted(self.authorizations.items())},
        }


INITIAL_ACCOUNTS = (
    SandboxAccount(
        id="act_1001",
        name="Stadt Musterstadt",
        page_id="2001",
        currency="CHF",
        min_daily_budget=100,
        authorizations={
            "CH": frozenset({"Stadt Musterstadt"}),
            "LI": frozenset({"Stadt Musterstadt"}),
        },
    ),
    SandboxAccount(
        id="act_1002",
        name="Gemeinde Beispielhausen",
        page_id="2002",
        currency="CHF",
        min_daily_budget=100,
    ),
    # A second authorized account (the soak throttles it while act_1001 keeps working);
    # act_1003 is left unknown to Meta, for tests of what Meta alone refuses.
    SandboxAccount(
        id="act_1004",
        name="Gemeinde Beispielwil",
        page_id="2004",
        currency="CHF",
        min_daily_budget=100,
        authorizations={"CH": frozenset({"Gemeinde Beispielwil"})},
    ),
)
