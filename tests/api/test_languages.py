"""The API classifies a French and an Italian ad as it does a German one."""

from __future__ import annotations

import pytest

from tests.api.conftest import AD, ApiCast

ADS = {
    "fr": {
        "headline": "Votation du 9 juin sur le nouveau collège",
        "message": "Le 9 juin, votez sur le crédit pour le nouveau collège.",
        "political": True,
    },
    "it": {
        "headline": "Votazione del 9 giugno sulla nuova scuola",
        "message": "Il 9 giugno votate sul credito per la nuova scuola.",
        "political": True,
    },
    "fr-shop": {
        "headline": "Soldes d'été",
        "message": "Nouvelle collection de robes en lin, livraison gratuite dès 50 francs.",
        "political": False,
    },
    "it-shop": {
        "headline": "Saldi estivi",
        "message": "Sconto del 30% su tutte le scarpe, solo questo fine settimana!",
        "political": False,
    },
}


@pytest.mark.parametrize("ad", sorted(ADS))
def test_a_none_is_flagged_when_the_ad_reads_political(api: ApiCast, ad: str) -> None:
    text = ADS[ad]
    created = api.create(ad={**AD, "headline": text["headline"], "message": text["message"]})
    path = f"/checklists/{created['id']}/classification"
    response = api.manager.call("PUT", path, {"category": "NONE"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    classification = body["classification"]
    assert classification["flagged"] is text["political"]
    steps = {s["name"]: s["status"] for s in body["steps"]}
    assert steps["classification"] == ("failed" if text["political"] else "passed")
    if text["political"]:
        assert classification["suggested_probability"] >= 0.5
        justified = api.manager.call(
            "PUT", path, {"category": "NONE", "justification": "Avis officiel / avviso ufficiale."}
        )
        steps = {s["name"]: s["status"] for s in justified.get_json()["steps"]}
        assert steps["classification"] == "pending"  # a reviewer's sign-off next
