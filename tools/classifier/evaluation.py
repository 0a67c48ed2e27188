"""Measuring the training procedure: AUC and stratified k-fold cross-validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.classifier.training import Options, prepare, stratified_folds, train_docs
from workflows.classify.lexicon import LEXICON, LEXICON_EXCEPTIONS
from workflows.classify.suggester import Suggester


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


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[bool],
    folds: int = 5,
    seed: int = 2017,
    options: Options | None = None,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation of the whole training procedure.

    Each fold is scored by a model trained on the other folds, whose calibration and
    threshold were chosen inside those training folds only. Reports the mean per-fold
    AUC, precision and recall pooled over the folds (each at its own threshold), and the
    mean threshold.
    """
    options = options or Options()
    docs, ys = prepare(texts, labels)
    aucs: list[float] = []
    thresholds: list[float] = []
    tp = fp = fn = 0
    for train_idx, test_idx in stratified_folds(ys, folds, seed):
        model = train_docs(
            [docs[i] for i in train_idx],
            [ys[i] for i in train_idx],
            options,
            LEXICON,
            LEXICON_EXCEPTIONS,
        )
        suggester = Suggester(model)
        probabilities = [suggester.probability(docs[i]) for i in test_idx]
        truth = [ys[i] for i in test_idx]
        aucs.append(auc(probabilities, truth))
        thresholds.append(suggester.threshold)
        for p, y in zip(probabilities, truth, strict=True):
            flagged = p >= suggester.threshold
            tp += flagged and y
            fp += flagged and not y
            fn += (not flagged) and y
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "auc": round(sum(aucs) / len(aucs), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "threshold": round(sum(thresholds) / len(thresholds), 4),
        "auc_per_fold": [round(a, 4) for a in aucs],
        "folds": folds,
        "seed": seed,
        "texts": len(ys),
        "political": sum(ys),
    }
