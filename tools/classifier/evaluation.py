"""Measuring the training procedure: AUC, cross-validation grouped by page, across countries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tools.classifier.anchors import ANCHORS
from tools.classifier.training import Options, grouped_folds, prepare, prepare_kept, train_docs
from workflows.classify.lexicon import LEXICONS, LEXICONS_EXCEPTIONS
from workflows.classify.suggester import LanguageModel, Suggester

# Parts of the model retrained without some texts (see ``cross_validate``).
Refit = Callable[[set[str]], dict[str, Any]]


def auc(scores: Sequence[float], ys: Sequence[bool]) -> float:
    """Area under the ROC curve (ties count one half)."""
    ranked = sorted(zip(scores, ys, strict=True), key=lambda p: p[0])
    positives = sum(ys)
    negatives = len(ys) - positives
    if not positives or not negatives:
        raise ValueError("AUC needs both classes")
    rank_sum = 0.0
    k = 0
    while k < len(ranked):
        end = k
        while end < len(ranked) and ranked[end][0] == ranked[k][0]:
            end += 1
        mid_rank = (k + 1 + end) / 2
        rank_sum += mid_rank * sum(1 for j in range(k, end) if ranked[j][1])
        k = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _split(
    docs: list[list[str]],
    ys: list[bool],
    groups: list[str],
    train_idx: Sequence[int],
    test_idx: Sequence[int],
    options: Options,
    language: str,
    routed: tuple[dict[str, Any], list[str], Refit | None] | None = None,
) -> dict[str, Any]:
    """Train on ``train_idx`` (the suggester and the anchors), score ``test_idx``.

    ``routed``: a whole model (the other languages' parts) and the texts; the fold's part
    replaces this language's, and the test texts also go through the whole suggester as
    ``classify`` reads them (each to the part of its detected language).
    """
    part = train_docs(
        [docs[i] for i in train_idx],
        [ys[i] for i in train_idx],
        [groups[i] for i in train_idx],
        options,
        language,
        LEXICONS[language],
        LEXICONS_EXCEPTIONS[language],
    )
    model = LanguageModel(part, language)
    probabilities = [model.probability(docs[i]) for i in test_idx]
    truth = [ys[i] for i in test_idx]
    flagged = [p >= model.threshold for p in probabilities]
    result: dict[str, Any] = {
        "auc": auc(probabilities, truth),
        "threshold": model.threshold,
        "tp": sum(f and y for f, y in zip(flagged, truth, strict=True)),
        "fp": sum(f and not y for f, y in zip(flagged, truth, strict=True)),
        "fn": sum(y and not f for f, y in zip(flagged, truth, strict=True)),
    }
    for name, make in ANCHORS.items():
        scorer = make([docs[i] for i in train_idx], [ys[i] for i in train_idx])
        result[name] = auc([scorer(docs[i]) for i in test_idx], truth)
    if routed is not None:
        whole, texts, refit = routed
        others = refit({texts[i] for i in test_idx}) if refit is not None else {}
        suggester = Suggester(
            {**whole, "languages": {**whole["languages"], **others, language: part}}
        )
        result["routed"] = auc([suggester.suggest(texts[i]).probability for i in test_idx], truth)
    return result


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    tp = sum(r["tp"] for r in results)
    fp = sum(r["fp"] for r in results)
    fn = sum(r["fn"] for r in results)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    summary: dict[str, Any] = {
        "auc": round(sum(r["auc"] for r in results) / len(results), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "threshold": round(sum(r["threshold"] for r in results) / len(results), 4),
        "auc_per_fold": [round(r["auc"], 4) for r in results],
    }
    if all("routed" in r for r in results):
        summary["auc_routed"] = round(sum(r["routed"] for r in results) / len(results), 4)
    summary["anchors"] = {
        name: round(sum(r[name] for r in results) / len(results), 4) for name in ANCHORS
    }
    return summary


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[bool],
    groups: Sequence[str] | None = None,
    *,
    language: str = "de",
    folds: int = 5,
    seed: int = 2017,
    options: Options | None = None,
    model: dict[str, Any] | None = None,
    refit: Refit | None = None,
) -> dict[str, Any]:
    """k-fold cross-validation of the whole training procedure, folds grouped by page.

    All texts of a page (``groups``) fall in one fold, so every fold is scored by a model
    that never saw its pages; without ``groups`` each text is its own group (a stratified
    split). Each fold's model chose its calibration and threshold inside its training
    folds only (grouped the same way). The anchors (``tools.classifier.anchors``) are
    trained and scored on the same folds. Reports the mean per-fold AUC, precision and
    recall pooled over the folds (each at its own threshold), and the mean threshold.
    With a whole ``model`` (its other languages' parts trained without these texts), also
    the AUC through the whole suggester (``auc_routed``): each text read by the part of
    its detected language, as ``classify`` does; ``refit`` gives the parts to retrain
    without a fold's texts (a part that learned from them too).
    """
    options = options or Options()
    docs, ys, kept, indices = prepare_kept(texts, labels, groups)
    routed = None if model is None else (model, [texts[i] for i in indices], refit)
    results = [
        _split(docs, ys, kept, train_idx, test_idx, options, language, routed)
        for train_idx, test_idx in grouped_folds(ys, kept, folds, seed)
    ]
    return {
        **_summary(results),
        "grouped_by": "page" if groups is not None else "text",
        "pages": len(set(kept)) if groups is not None else None,
        "folds": folds,
        "seed": seed,
        "texts": len(ys),
        "political": sum(ys),
    }


def across_countries(
    sources: dict[str, tuple[Sequence[str], Sequence[bool], Sequence[str] | None]],
    *,
    language: str,
    options: Options | None = None,
) -> dict[str, dict[str, Any]]:
    """Leave one country out: for each country, train on the others', score its texts.

    ``sources`` maps a country code to its texts, labels and groups (pages); it needs at
    least two countries.
    """
    if len(sources) < 2:
        raise ValueError("leaving one country out needs two countries")
    options = options or Options()
    docs: list[list[str]] = []
    ys: list[bool] = []
    kept: list[str] = []
    country_of: list[str] = []
    for country, (texts, labels, groups) in sorted(sources.items()):
        d, y, g = prepare(texts, labels, groups)
        docs += d
        ys += y
        kept += [f"{country}:{x}" for x in g]
        country_of += [country] * len(d)
    out = {}
    for country in sorted(sources):
        train_idx = [i for i, c in enumerate(country_of) if c != country]
        test_idx = [i for i, c in enumerate(country_of) if c == country]
        result = _split(docs, ys, kept, train_idx, test_idx, options, language)
        out[country] = {**_summary([result]), "texts": len(test_idx)}
    return out
