"""A French and an Italian ad: the suggestion, its terms and a flagged NONE, as for German."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from sqlmodel import Session

from app import audit
from app.checklists import service
from app.models import utcnow
from tests.app.checklists.test_service import _ad
from tests.app.conftest import Cast, People
from workflows.checks import Category

ADS = {
    "fr": (
        "Votation du 9 juin sur le nouveau collège",
        "Le 9 juin, votez sur le crédit pour le nouveau collège. Tout sur la votation et "
        "l'initiative communale.",
    ),
    "it": (
        "Votazione del 9 giugno sulla nuova scuola",
        "Il 9 giugno votate sul credito per la nuova scuola. Tutto sulla votazione e "
        "l'iniziativa comunale.",
    ),
}
SHOPS = {
    "fr": (
        "Soldes d'été",
        "Nouvelle collection de robes en lin, livraison gratuite dès 50 francs.",
    ),
    "it": ("Saldi estivi", "Sconto del 30% su tutte le scarpe, solo questo fine settimana!"),
}


def _classified(db: Session) -> dict[str, object]:
    [pending] = [p for p in db.info.get(audit.PENDING, []) if p.kind == "checklist.edit"][-1:]
    body: dict[str, object] = json.loads(pending.body)["classified"]
    return body


@pytest.mark.parametrize("language", ["fr", "it"])
def test_the_suggestion_reads_the_ad_in_its_language(
    db: Session, people: People, language: str
) -> None:
    headline, message = ADS[language]
    checklist = service.create(
        db, people.owner, replace(_ad(), headline=headline, message=message), utcnow()
    )
    suggestion = service.suggestion(checklist)
    assert suggestion.language == language
    assert suggestion.label == "political"
    words = re.findall(r"\w+", f"{headline} {message}".casefold())
    assert suggestion.terms
    assert all(term in words for term in suggestion.terms)
    assert "votation" in suggestion.terms or "votazione" in suggestion.terms
    # NONE against the political suggestion: flagged, the terms recorded in the ad's words.
    service.classify(
        db, checklist, people.owner, category=Category.NONE, social_issues=[],
        digitally_created_media=False, justification="Information communale / comunale.",
        suggestion=suggestion, version=checklist.version, now=utcnow(),
    )  # fmt: skip
    assert checklist.flagged
    classified = _classified(db)
    assert classified["suggested_terms"] == list(suggestion.terms)


@pytest.mark.parametrize("language", ["fr", "it"])
def test_a_shop_ad_classified_none_is_not_flagged(
    db: Session, people: People, language: str
) -> None:
    headline, message = SHOPS[language]
    checklist = service.create(
        db, people.owner, replace(_ad(), headline=headline, message=message), utcnow()
    )
    suggestion = service.suggestion(checklist)
    assert (suggestion.language, suggestion.label) == (language, "not_political")
    service.classify(
        db, checklist, people.owner, category=Category.NONE, social_issues=[],
        digitally_created_media=False, justification=None, suggestion=suggestion,
        version=checklist.version, now=utcnow(),
    )  # fmt: skip
    assert not checklist.flagged


@pytest.mark.parametrize("language", ["fr", "it"])
def test_the_page_shows_the_terms_in_the_ads_language_and_the_sign_off_follows(
    cast: Cast, language: str
) -> None:
    headline, message = ADS[language]
    checklist_id = cast.create(headline=headline, message=message)
    page = cast.manager.get(f"/checklists/{checklist_id}/classification").get_data(as_text=True)
    terms = re.search(r'<ul class="list-inline" id="suggestion-terms" lang="(\w+)">(.*?)</ul>',
                      page, re.S)  # fmt: skip
    assert terms is not None
    assert terms.group(1) == language
    shown = re.findall(r"<code>(\w+)</code>", terms.group(2))
    assert {"votation", "votez"} & set(shown) or {"votazione", "votate"} & set(shown)
    assert f'id="ad-text" lang="{language}"' in page
    assert "probably political or a social issue" in page
    # NONE without a justification: flagged and failed; with one: a reviewer signs off.
    assert cast.classify(checklist_id, "NONE").status_code == 302
    assert cast.checklist(checklist_id).flagged
    assert cast.steps(cast.manager, checklist_id)["classification"] == "failed"
    cast.classify(checklist_id, "NONE", justification="Avis officiel de la commune / del comune.")
    assert cast.steps(cast.manager, checklist_id)["classification"] == "pending"
    response = cast.post(cast.reviewer, f"/reviews/checklists/{checklist_id}/sign-off")
    assert response.status_code == 302
    assert cast.steps(cast.manager, checklist_id)["classification"] == "passed"
