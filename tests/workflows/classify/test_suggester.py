"""The suggester: suggestions, the shipped model file, a runtime of the standard library only."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
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
    assert suggestion.probability >= suggester.threshold
    assert suggestion.terms[0] == "gemeinderatswahl"
    assert "wählen" in suggestion.terms


def test_commercial_text_is_not_political(suggester: Suggester) -> None:
    suggestion = suggester.suggest(COMMERCIAL)
    assert suggestion.label == "not_political"
    assert suggestion.probability < suggester.threshold


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


def test_probabilities_are_probabilities(suggester: Suggester) -> None:
    texts = [POLITICAL, COMMERCIAL, "", "!!!", "Wahl " * 500, "Sale love happy day " * 500]
    for text in texts:
        suggestion = suggester.suggest(text)
        assert 0.0 <= suggestion.probability <= 1.0
        assert suggestion.label == (
            "political" if suggestion.probability >= suggester.threshold else "not_political"
        )


def test_terms_are_pushing_words_strongest_first_at_most_eight(suggester: Suggester) -> None:
    text = (
        "Wahlkampf! Die Partei, ihre Kandidatin, der Bürgermeister, die Regierung, das "
        "Parlament, der Landtag, der Bundestag, die Abstimmung, das Referendum, die Koalition."
    )
    suggestion = suggester.suggest(text)
    assert len(suggestion.terms) == MAX_TERMS
    weights = dict(suggester.contributions(tokenize(text)))
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


def test_suggest_is_fast(suggester: Suggester) -> None:
    text = POLITICAL + " " + COMMERCIAL + " Jetzt informieren und mitdiskutieren!" * 3
    suggester.suggest(text)
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        suggester.suggest(text)
    assert (time.perf_counter() - started) / rounds < 0.001


# --- the shipped model file ----------------------------------------------------------------


def test_shipped_model_loads_with_attribution() -> None:
    assert MODEL_PATH.name == "classifier_model.json"
    assert MODEL_PATH.stat().st_size < 1_000_000
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    meta = model["metadata"]
    assert meta["licence"] == "MIT, ProPublica (see LICENSE-propublica)"
    assert "ProPublica" in meta["source"]
    assert meta["vocabulary_size"] == len(model["weights"]) <= 5000
    assert meta["threshold"] == model["threshold"]
    assert meta["cross_validation"]["auc"] >= 0.90
    licence = MODEL_PATH.with_name("LICENSE-propublica").read_text(encoding="utf-8")
    assert "Copyright (c) 2017 ProPublica" in licence
    suggester = Suggester.load()
    assert 0.0 < suggester.threshold < 1.0
    assert Suggester.load(MODEL_PATH).threshold == suggester.threshold


def test_shipped_model_holds_words_not_texts() -> None:
    model = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    word = re.compile(r"[^\W\d_]+")
    assert all(word.fullmatch(w) for w in model["weights"])
    assert all(isinstance(v, float | int) for v in model["weights"].values())


def test_other_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    with pytest.raises(ValueError, match="model"):
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
