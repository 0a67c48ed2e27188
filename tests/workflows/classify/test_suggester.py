"""The suggester: suggestions, the shipped model file, a runtime of the standard library only."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workflows.classify.suggester import MAX_TERMS, MODEL_PATH, Suggester, Suggestion
from workflows.classify.text import tokenize

POLITICAL = "Am Sonntag ist Gemeinderatswahl: Gehen Sie wählen!"
COMMERCIAL = "20% Rabatt auf alle Sneaker, nur dieses Wochenende"


@pytest.fixture(scope="module")
def suggester() -> Suggester:
    return Suggester.load()


# --- suggestions -------------------------------------------------------------------------


def test_political_text_is_political_and_names_its_words(suggester: Suggester) -> None:
    suggestion = suggester.suggest(POLITICAL)
    assert suggestion.label == "political"
    assert suggestion.probability >= suggester.threshold("de")
    assert suggestion.language == "de"
    assert suggestion.terms[0] == "gemeinderatswahl"
    assert "wählen" in suggestion.terms


def test_commercial_text_is_not_political(suggester: Suggester) -> None:
    suggestion = suggester.suggest(COMMERCIAL)
    assert suggestion.label == "not_political"
    assert suggestion.probability < suggester.threshold("de")


@pytest.mark.parametrize(
    "text",
    [
        "Am 23. Februar ist Bundestagswahl: Mit beiden Stimmen für einen Politikwechsel.",
        "Ja zur Volksinitiative am 9. Juni! Abstimmungsunterlagen jetzt ausfüllen.",
        "Stadtratswahl in Zürich: Liste 3 unverändert einlegen.",
        "Unsere Kandidatin für den Landtag: Für bezahlbare Mieten in Hamburg.",
        "Der Mindestlohn muss steigen. Dafür kämpft die SPD im Bundestag.",
    ],
)
def test_german_and_swiss_political_texts(suggester: Suggester, text: str) -> None:
    assert suggester.suggest(text).label == "political"


@pytest.mark.parametrize(
    "text",
    [
        "Neu in Hamburg: Unser Burgerladen öffnet am Samstag. Die ersten Gäste essen gratis!",
        "Zürich erleben: Stadtführung mit Fondue-Abend für zwei Personen.",
        "Große Auswahl an Gartenmöbeln - jetzt im Sale.",
        "Kurz vor Weihnachten: Geschenkideen für die ganze Familie.",
        "Tickets für das Konzert in der Elbphilharmonie - nur noch wenige Plätze frei.",
    ],
)
def test_german_and_swiss_commercial_texts(suggester: Suggester, text: str) -> None:
    assert suggester.suggest(text).label == "not_political"


# French and Italian (Romandie, Ticino, the bilingual cantons), and English.
FRENCH_POLITICAL = [
    "Votation du 9 juin : votez OUI à l'initiative pour des loyers abordables !",
    "Élections communales : nos candidates et candidats pour le Conseil communal.",
    "Le Grand Conseil débat de la réforme fiscale : notre députée s'engage pour les familles.",
    "Signez la pétition contre la hausse des primes d'assurance maladie.",
]
FRENCH_COMMERCIAL = [
    "Nouvelle collection de robes en lin, livraison gratuite dès 50 francs.",
    "Réservez votre table pour la Saint-Valentin : menu dégustation en cinq services.",
]
ITALIAN_POLITICAL = [
    "Votazione del 9 giugno: votate Sì all'iniziativa popolare sui premi di cassa malati!",
    "Il Gran Consiglio discute la riforma fiscale: il nostro candidato spiega perché.",
    "Elezioni comunali: i nostri candidati per il Consiglio comunale di Lugano.",
    "Il governo deve ascoltare i cittadini: più sostegno alle famiglie e ai pensionati.",
]
ITALIAN_COMMERCIAL = [
    "Saldi estivi: sconto del 30% su tutte le scarpe, solo questo fine settimana!",
    "La nuova pizza margherita con mozzarella di bufala, ordina ora a domicilio.",
]


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        *((t, "fr", "political") for t in FRENCH_POLITICAL),
        *((t, "fr", "not_political") for t in FRENCH_COMMERCIAL),
        *((t, "it", "political") for t in ITALIAN_POLITICAL),
        *((t, "it", "not_political") for t in ITALIAN_COMMERCIAL),
    ],
)
def test_french_and_italian_texts_are_read_in_their_language(
    suggester: Suggester, text: str, language: str, label: str
) -> None:
    suggestion = suggester.suggest(text)
    assert suggestion.language == language
    assert suggestion.label == label
    if label == "political":  # explained in the text's own words
        assert suggestion.terms
        assert all(term in tokenize(text) for term in suggestion.terms)


def test_the_terms_are_the_texts_own_words(suggester: Suggester) -> None:
    assert suggester.suggest(FRENCH_POLITICAL[0]).terms[:2] == ("votation", "votez")
    assert {"votazione", "votate", "iniziativa"} <= set(
        suggester.suggest(ITALIAN_POLITICAL[0]).terms
    )


def test_english_is_read_by_its_own_part(suggester: Suggester) -> None:
    assert suggester.language_of("Vote for the future of our city") == "en"
    political = suggester.suggest("Vote for our candidate in the municipal election on Sunday!")
    assert political.label == "political"
    assert "election" in political.terms
    commercial = suggester.suggest("New summer collection: free shipping on all orders.")
    assert commercial.label == "not_political"


def test_a_text_without_function_words_goes_to_the_part_knowing_its_words(
    suggester: Suggester,
) -> None:
    assert suggester.language_of("#Gemeinderatswahl") == suggester.default == "de"
    assert suggester.language_of("#votazione #elezioni") == "it"
    assert suggester.language_of("Votation!") == "fr"
    assert suggester.language_of("") == "de"
    assert suggester.language_of("Xyzzy qwerty") == "de"


def test_probabilities_are_probabilities(suggester: Suggester) -> None:
    texts = [
        POLITICAL,
        COMMERCIAL,
        "",
        "!!!",
        "Wahl " * 500,
        "Sale love happy day " * 500,
        *FRENCH_POLITICAL,
        *ITALIAN_COMMERCIAL,
    ]
    for text in texts:
        suggestion = suggester.suggest(text)
        assert 0.0 <= suggestion.probability <= 1.0
        assert suggestion.label == (
            "political"
            if suggestion.probability >= suggester.threshold(suggestion.language)
            else "not_political"
        )


def test_terms_are_pushing_words_strongest_first_at_most_eight(suggester: Suggester) -> None:
    text = (
        "Wahlkampf! Die Partei, ihre Kandidatin, der Bürgermeister, die Regierung, das "
        "Parlament, der Landtag, der Bundestag, die Abstimmung, das Referendum, die Koalition."
    )
    suggestion = suggester.suggest(text)
    assert len(suggestion.terms) == MAX_TERMS
    weights = dict(suggester.parts["de"].contributions(tokenize(text)))
    pushes = [weights[t] for t in suggestion.terms]
    assert all(w > 0 for w in pushes)
    assert pushes == sorted(pushes, reverse=True)
    assert suggester.suggest("").terms == ()


def test_a_word_counts_once(suggester: Suggester) -> None:
    assert suggester.suggest("Wahlkampf").probability == pytest.approx(
        suggester.suggest("Wahlkampf Wahlkampf wahlkampf").probability
    )


def test_suggestion_is_immutable(suggester: Suggester) -> None:
    suggestion = suggester.suggest(POLITICAL)
    assert isinstance(suggestion, Suggestion)
    with pytest.raises(dataclasses.FrozenInstanceError):
        suggestion.label = "not_political"  # type: ignore[misc]


# --- the shipped model file ----------------------------------------------------------------


def test_shipped_model_loads_with_attribution() -> None:
    assert MODEL_PATH.name == "classifier_model.json"
    assert MODEL_PATH.stat().st_size < 1_000_000
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    meta = model["metadata"]
    assert meta["licence"] == "MIT, ProPublica (see LICENSE-propublica)"
    assert "ProPublica" in meta["source"]
    assert set(model["languages"]) == {"de", "fr", "it", "en"}
    for code, part in model["languages"].items():
        measured = meta["languages"][code]
        assert measured["vocabulary_size"] == len(part["weights"]) <= 5000
        assert measured["threshold"] == part["threshold"]
        assert measured["cross_validation"]["auc"] >= 0.90
    licence = MODEL_PATH.with_name("LICENSE-propublica").read_text(encoding="utf-8")
    assert "Copyright (c) 2017 ProPublica" in licence
    suggester = Suggester.load()
    for code in ("de", "fr", "it", "en"):
        assert 0.0 < suggester.threshold(code) < 1.0
        assert Suggester.load(MODEL_PATH).threshold(code) == suggester.threshold(code)


def test_shipped_model_holds_words_not_texts() -> None:
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    word = re.compile(r"[^\W\d_]+")
    for part in model["languages"].values():
        assert all(word.fullmatch(w) for w in part["weights"])
        assert all(isinstance(v, float | int) for v in part["weights"].values())


def test_other_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    with pytest.raises(ValueError, match="model"):
        Suggester.load(path)
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**model, "routes": {"rm": "es"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="without a part"):
        Suggester.load(path)


# --- what the runtime loads ----------------------------------------------------------------


def test_the_runtime_imports_only_the_standard_library() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import workflows.classify.suggester\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(json.loads(loaded)) - sys.stdlib_module_names == {"workflows"}
