"""Training and evaluation of the suggester: the procedure, its command line, its quality."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_or_skip
from tools.classifier.cli import LICENCE, load_data, main
from tools.classifier.evaluation import auc, cross_validate
from tools.classifier.training import train
from workflows.classify.suggester import MODEL_PATH, Suggester

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "classifier" / "de-AT.json"


def data() -> tuple[list[str], list[bool]]:
    require_or_skip(DATA.is_file(), "the classifier data (../shared/data/classifier)")
    return load_data(DATA)


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
    model = train(texts, labels)
    assert model == train(texts, labels)
    assert json.loads(json.dumps(model)) == model
    suggester = Suggester(model)
    assert suggester.suggest("Die Regierung muss handeln").label == "political"
    assert suggester.suggest("Neu im Shop, im Sale").label == "not_political"


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
    path = tmp_path / "toy.json"
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
    assert model["metadata"]["texts"] == len(texts)
    for text in texts:  # the model file holds word weights, never the texts
        assert text not in out.read_text(encoding="utf-8")
    assert Suggester.load(out).suggest(texts[0]).label == "political"
    assert main(["evaluate", "--data", str(path)]) == 0
    assert re.search(r"AUC \d\.\d{4}  precision \d\.\d{4}  recall", capsys.readouterr().out)


def test_load_data_refuses_other_shapes(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"political": ["a"], "not_political": [1]}), encoding="utf-8")
    with pytest.raises(ValueError, match="expected lists"):
        load_data(path)


# --- measured on the real data -------------------------------------------------------------


def test_cross_validated_quality_on_austrian_ads(
    record_property: Callable[[str, object], None],
) -> None:
    texts, labels = data()
    metrics = cross_validate(texts, labels, folds=5)
    for key in ("auc", "precision", "recall", "threshold"):
        record_property(key, metrics[key])
    print(
        f"\nclassifier, 5-fold stratified cross-validation on {metrics['texts']} texts "
        f"(de-AT.json): AUC {metrics['auc']:.4f}, precision {metrics['precision']:.4f}, "
        f"recall {metrics['recall']:.4f} at threshold {metrics['threshold']:.4f}"
    )
    assert metrics["auc"] >= 0.90
    assert metrics["precision"] >= 0.80
    assert metrics["recall"] >= 0.80


def test_shipped_model_is_what_the_training_command_makes() -> None:
    texts, labels = data()
    shipped = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    fresh = train(texts, labels)
    for key in ("weights", "bias", "calibration", "threshold", "lexicon", "lexicon_exceptions"):
        assert fresh[key] == shipped[key], (
            f"regenerate the model ({key} differs): docs/classifier.md"
        )
