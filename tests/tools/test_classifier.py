"""Training and evaluation of the suggester: the procedure, its command line, its quality."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_or_skip
from tools.classifier.cli import (
    DATA_DIR,
    DATA_FILES,
    LICENCE,
    Source,
    evaluate,
    load_data,
    load_source,
    main,
    report,
    routes,
    train_parts,
)
from tools.classifier.evaluation import across_countries, auc
from tools.classifier.training import Options, grouped_folds, train
from workflows.classify.suggester import MODEL_PATH, LanguageModel, Suggester
from workflows.classify.text import tokenize


def sources() -> list[Source]:
    paths = [DATA_DIR / name for name in DATA_FILES]
    require_or_skip(
        all(p.is_file() for p in paths), "the classifier data (../shared/data/classifier)"
    )
    return [load_source(p) for p in paths]


# --- training ------------------------------------------------------------------------------

TOY_POLITICAL = [
    f"Die Regierung muss handeln: {topic} jetzt!"
    for topic in (
        "Wohnungen",
        "Schulen",
        "Pflege",
        "Löhne",
        "Klimaschutz",
        "Renten",
        "Bildung",
        "Sicherheit",
        "Steuern",
        "Gesundheit",
    )
]
TOY_COMMERCIAL = [
    f"Neu im Shop: {item} im Sale, nur diese Woche!"
    for item in (
        "Sneaker",
        "Jacken",
        "Taschen",
        "Kleider",
        "Mützen",
        "Schals",
        "Stiefel",
        "Hemden",
        "Gürtel",
        "Socken",
    )
]


def toy() -> tuple[list[str], list[bool]]:
    texts = TOY_POLITICAL + TOY_COMMERCIAL
    return texts, [True] * len(TOY_POLITICAL) + [False] * len(TOY_COMMERCIAL)


def test_train_returns_a_deterministic_json_model() -> None:
    texts, labels = toy()
    part = train(texts, labels)
    assert part == train(texts, labels)
    assert json.loads(json.dumps(part)) == part
    model = LanguageModel(part, "de")
    assert model.suggest_words(tokenize("Die Regierung muss handeln")).label == "political"
    assert model.suggest_words(tokenize("Neu im Shop, im Sale")).label == "not_political"


def test_folds_keep_each_page_on_one_side() -> None:
    ys = [True] * 30 + [False] * 30
    pages = [f"page{i // 5}" for i in range(60)]  # 12 pages of 5 texts, 6 of each class
    folds = grouped_folds(ys, pages, 3, seed=1)
    assert sorted(i for _, test in folds for i in test) == list(range(60))
    for train_idx, test_idx in folds:
        assert {pages[i] for i in train_idx}.isdisjoint(pages[i] for i in test_idx)
        assert sum(ys[i] for i in test_idx) == 10  # both classes in every fold
    assert folds == grouped_folds(ys, pages, 3, seed=1)
    # One text per page: a stratified split.
    single = grouped_folds(ys, [str(i) for i in range(60)], 5, seed=1)
    assert [sum(ys[i] for i in test) for _, test in single] == [6] * 5


def test_page_urls_are_removed_and_become_groups(tmp_path: Path) -> None:
    path = tmp_path / "fr-CH.json"
    page = "https://www.facebook.com/ExemplePage/"
    path.write_text(
        json.dumps(
            {
                "political": [f"Votez le 9 juin ! {page}", "Votation https://facebook.com/x"],
                "not_political": ["Soldes ! https://www.facebook.com/Boutique/"],
            }
        ),
        encoding="utf-8",
    )
    texts, labels, pages = load_data(path)
    assert texts == ["Votez le 9 juin !", "Votation", "Soldes !"]
    assert labels == [True, True, False]
    assert pages == ["https://www.facebook.com/exemplepage", "https://facebook.com/x",
                     "https://www.facebook.com/boutique"]  # fmt: skip
    source = load_source(path)
    assert (source.language, source.country) == ("fr", "CH")
    for bad in ("texts.json", "es-ES.json"):
        (tmp_path / bad).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        with pytest.raises(ValueError, match="language"):
            load_source(tmp_path / bad)


def test_leaving_one_country_out_trains_on_the_others() -> None:
    texts, _ = toy()
    half = len(TOY_POLITICAL) // 2
    at = texts[:half] + texts[len(TOY_POLITICAL) : len(TOY_POLITICAL) + half]
    ch = texts[half : len(TOY_POLITICAL)] + texts[len(TOY_POLITICAL) + half :]
    ys = [True] * half + [False] * half
    result = across_countries(
        {"AT": (at, ys, None), "CH": (ch, ys, None)}, language="de", options=Options()
    )
    assert set(result) == {"AT", "CH"}
    for measured in result.values():
        assert measured["texts"] == 2 * half
        assert 0.0 <= measured["auc"] <= 1.0
        assert set(measured["anchors"]) == {"naive_bayes", "tfidf_logistic_regression"}
    with pytest.raises(ValueError, match="two countries"):
        across_countries({"AT": (at, ys, None)}, language="de")


def test_train_needs_both_classes_and_matching_lengths() -> None:
    with pytest.raises(ValueError, match=r"both|political"):
        train(TOY_POLITICAL, [True] * len(TOY_POLITICAL))
    with pytest.raises(ValueError, match="length"):
        train(TOY_POLITICAL, [True])


def test_auc() -> None:
    assert auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert auc([0.5, 0.5], [False, True]) == 0.5


def test_command_line_trains_and_evaluates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts, labels = toy()
    path = tmp_path / "de-XX.json"
    path.write_text(
        json.dumps(
            {
                "political": [t for t, y in zip(texts, labels, strict=True) if y],
                "not_political": [t for t, y in zip(texts, labels, strict=True) if not y],
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "model.json"
    assert main(["train", "--data", str(path), "--out", str(out)]) == 0
    model = json.loads(out.read_text(encoding="utf-8"))
    assert model["metadata"]["licence"] == LICENCE
    measured = model["metadata"]["languages"]["de"]
    assert measured["cross_validation"]["texts"] == len(texts)
    assert measured["leave_one_country_out"] is None
    for text in texts:  # the model file holds word weights, never the texts
        assert text not in out.read_text(encoding="utf-8")
    assert Suggester.load(out).suggest(texts[0]).label == "political"
    assert main(["evaluate", "--data", str(path)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"AUC \d\.\d{4}  precision \d\.\d{4}  recall", printed)
    assert re.search(r"Naive Bayes AUC \d\.\d{4}, TF-IDF logistic regression AUC", printed)
    assert "leave one country out: not possible, one country only" in printed


def test_load_data_refuses_other_shapes(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"political": ["a"], "not_political": [1]}), encoding="utf-8")
    with pytest.raises(ValueError, match="expected lists"):
        load_data(path)


# --- measured on the real data -------------------------------------------------------------


# Floors well below the measured figures (docs/classifier.md), to catch regressions.
FLOORS = {"de": 0.95, "fr": 0.90, "it": 0.90, "en": 0.90}


def test_cross_validated_quality_per_language(
    record_property: Callable[[str, object], None],
) -> None:
    measured = evaluate(sources())
    print("\nclassifier, measured on ../shared/data/classifier:")
    for line in report(measured):
        print(line)
    assert set(measured) == {"de", "fr", "it", "en"}
    for code, metrics in measured.items():
        cv = metrics["cross_validation"]
        record_property(f"{code}_auc", cv["auc"])
        record_property(f"{code}_auc_routed", cv["auc_routed"])
        record_property(f"{code}_anchors", cv["anchors"])
        # French and Italian texts name their page: folds are grouped by it (English
        # texts by their source's page, each Austrian one alone).
        assert cv["grouped_by"] == ("text" if code == "de" else "page")
        # One country per language, but English comes from all three.
        loco = metrics["leave_one_country_out"]
        assert (loco is None) == (code != "en")
        assert cv["auc"] >= FLOORS[code]
        assert cv["auc_routed"] >= FLOORS[code]
        assert cv["precision"] >= 0.75
        assert cv["recall"] >= 0.75
        assert min(cv["anchors"].values()) >= 0.5


def test_shipped_model_is_what_the_training_command_makes() -> None:
    data = sources()
    shipped = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert shipped["routes"] == routes(data)
    fresh = train_parts(data)
    assert set(fresh) == set(shipped["languages"]) == {"de", "fr", "it", "en"}
    for code, part in fresh.items():
        assert part == shipped["languages"][code], (
            f"regenerate the model ({code} differs): docs/classifier.md"
        )
    assert Suggester(shipped).default == "de"
