"""Training the suggester: logistic regression by SGD, Platt calibration, F1-best threshold.

Plain Python (standard library only), deterministic for a given seed. It makes one
language's part of the model, the JSON-able dict that
``workflows.classify.suggester.LanguageModel`` reads.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workflows.classify.lexicon import LEXICONS, LEXICONS_EXCEPTIONS, feature
from workflows.classify.suggester import LanguageModel, sigmoid
from workflows.classify.text import tokenize, unique


@dataclass(frozen=True)
class Options:
    """Training settings (the defaults are the shipped model's)."""

    epochs: int = 10
    rate: float = 0.1  # AdaGrad step size
    l2: float = 1e-3  # L2 penalty, applied to a weight whenever its word occurs
    min_count: int = 2  # a word is learned only if it occurs in at least this many texts
    max_words: int = 4000  # keep the words with the largest absolute weights
    calibration_folds: int = 3  # inner folds for calibration and threshold
    seed: int = 0
    nb_weight: float = 0.1  # share of Naive Bayes log-count ratios added to each weight


def prepare(
    texts: Sequence[str], labels: Sequence[bool], groups: Sequence[str] | None = None
) -> tuple[list[list[str]], list[bool], list[str]]:
    """See ``prepare_kept``, without the indices."""
    docs, ys, kept, _ = prepare_kept(texts, labels, groups)
    return docs, ys, kept


def prepare_kept(
    texts: Sequence[str], labels: Sequence[bool], groups: Sequence[str] | None = None
) -> tuple[list[list[str]], list[bool], list[str], list[int]]:
    """Tokenized texts (each word once), without empty texts and duplicates, with groups.

    A text whose words repeat an earlier text's is dropped (re-posted ads would otherwise
    sit on both sides of a cross-validation split). ``groups`` name the page that posted
    each text (default: each text its own group). Also returns the indices of the texts
    kept.
    """
    if len(texts) != len(labels) or (groups is not None and len(groups) != len(texts)):
        raise ValueError("texts, labels and groups differ in length")
    seen: set[tuple[str, ...]] = set()
    docs: list[list[str]] = []
    ys: list[bool] = []
    kept: list[str] = []
    indices: list[int] = []
    for k, (text, label) in enumerate(zip(texts, labels, strict=True)):
        words = tokenize(text)
        key = tuple(words)
        if not words or key in seen:
            continue
        seen.add(key)
        docs.append(unique(words))
        ys.append(bool(label))
        kept.append(groups[k] if groups is not None else f"#{k}")
        indices.append(k)
    return docs, ys, kept, indices


def train(
    texts: Sequence[str],
    labels: Sequence[bool],
    options: Options | None = None,
    *,
    language: str = "de",
    groups: Sequence[str] | None = None,
    lexicon: dict[str, float] | None = None,
    exceptions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train ``language``'s part on ``texts`` (``labels``: True = political), JSON-able.

    Calibration and threshold come from out-of-fold predictions within these texts only,
    with folds grouped by ``groups`` (the posting pages) when given.
    """
    docs, ys, kept = prepare(texts, labels, groups)
    return train_docs(
        docs,
        ys,
        kept,
        options or Options(),
        language,
        LEXICONS[language] if lexicon is None else lexicon,
        LEXICONS_EXCEPTIONS[language] if exceptions is None else exceptions,
    )


def train_docs(
    docs: list[list[str]],
    ys: list[bool],
    groups: list[str],
    options: Options,
    language: str,
    lexicon: dict[str, float],
    exceptions: Sequence[str],
) -> dict[str, Any]:
    if sum(ys) == 0 or sum(ys) == len(ys):
        raise ValueError("training needs political and non-political texts")
    weights, bias = _fit(docs, ys, options, language)
    part: dict[str, Any] = {
        "bias": bias,
        "calibration": {"scale": 1.0, "offset": 0.0},
        "threshold": 0.5,
        "weights": weights,
        "lexicon": dict(sorted(lexicon.items())),
        "lexicon_exceptions": list(exceptions),
    }
    # Out-of-fold scores within the training texts (folds grouped by page): calibration
    # and threshold.
    scores = [0.0] * len(ys)
    for train_idx, test_idx in grouped_folds(ys, groups, options.calibration_folds, options.seed):
        inner_w, inner_b = _fit(
            [docs[i] for i in train_idx], [ys[i] for i in train_idx], options, language
        )
        inner = LanguageModel({**part, "weights": inner_w, "bias": inner_b}, language)
        for i in test_idx:
            scores[i] = inner.score(docs[i])
    scale, offset = _platt(scores, ys)
    probabilities = [sigmoid(scale * s + offset) for s in scores]
    part["calibration"] = {"scale": round(scale, 6), "offset": round(offset, 6)}
    part["threshold"] = round(_best_threshold(probabilities, ys), 4)
    return part


def _fit(
    docs: list[list[str]], ys: list[bool], options: Options, language: str
) -> tuple[dict[str, float], float]:
    """Logistic regression over word presence, by SGD with AdaGrad steps and L2."""
    stems = [
        unique(f for f in (feature(w, language) for w in doc) if f is not None) for doc in docs
    ]
    counts: dict[str, int] = {}
    for doc in stems:
        for base in doc:
            counts[base] = counts.get(base, 0) + 1
    vocabulary = sorted(b for b, c in counts.items() if c >= options.min_count)
    index = {b: i for i, b in enumerate(vocabulary)}
    rows = [[index[b] for b in doc if b in index] for doc in stems]
    targets = [1.0 if y else 0.0 for y in ys]
    w = [0.0] * len(vocabulary)
    g2 = [1e-6] * len(vocabulary)
    positives = sum(targets)
    bias = math.log(positives / (len(targets) - positives))
    bias_g2 = 1e-6
    rate, l2 = options.rate, options.l2
    rng = random.Random(options.seed)  # noqa: S311 (reproducible shuffling, not secrets)
    order = list(range(len(rows)))
    for _ in range(options.epochs):
        rng.shuffle(order)
        for i in order:
            row = rows[i]
            z = bias
            for j in row:
                z += w[j]
            g = sigmoid(z) - targets[i]
            bias_g2 += g * g
            bias -= rate * g / math.sqrt(bias_g2)
            for j in row:
                gj = g + l2 * w[j]
                g2[j] += gj * gj
                w[j] -= rate * gj / math.sqrt(g2[j])
    if options.nb_weight:
        # Naive Bayes log-count ratios of word presence (Laplace smoothing), added to the
        # learned weights: still one weight per word, so still explainable word by word.
        pos = [1.0] * len(vocabulary)
        neg = [1.0] * len(vocabulary)
        for row, t in zip(rows, targets, strict=True):
            for j in row:
                if t:
                    pos[j] += 1
                else:
                    neg[j] += 1
        total_pos, total_neg = sum(pos), sum(neg)
        for j in range(len(w)):
            w[j] += options.nb_weight * (
                math.log(pos[j] / total_pos) - math.log(neg[j] / total_neg)
            )
    ranked = sorted(range(len(w)), key=lambda j: (-abs(w[j]), vocabulary[j]))
    kept = sorted(ranked[: options.max_words], key=lambda j: vocabulary[j])
    return {vocabulary[j]: round(w[j], 4) for j in kept if round(w[j], 4) != 0}, round(bias, 6)


def _platt(scores: Sequence[float], ys: Sequence[bool]) -> tuple[float, float]:
    """Fit p = sigmoid(a * score + b) by Newton's method (Platt's targets against overfit)."""
    positives = sum(ys)
    negatives = len(ys) - positives
    hi, lo = (positives + 1) / (positives + 2), 1 / (negatives + 2)
    targets = [hi if y else lo for y in ys]
    a, b = 1.0, 0.0
    for _ in range(50):
        ga = gb = haa = hab = hbb = 0.0
        for s, t in zip(scores, targets, strict=True):
            p = sigmoid(a * s + b)
            d = p - t
            v = max(p * (1 - p), 1e-12)
            ga += d * s
            gb += d
            haa += v * s * s
            hab += v * s
            hbb += v
        haa += 1e-9
        hbb += 1e-9
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            break
    return a, b


def _best_threshold(probabilities: Sequence[float], ys: Sequence[bool]) -> float:
    """The probability cut with the best F1 (midway between neighbouring predictions)."""
    ranked = sorted(zip(probabilities, ys, strict=True), key=lambda p: -p[0])
    positives = sum(ys)
    best_f1, best = -1.0, 0.5
    tp = fp = 0
    for k, (p, y) in enumerate(ranked):
        tp += y
        fp += not y
        nxt = ranked[k + 1][0] if k + 1 < len(ranked) else 0.0
        if nxt == p:
            continue  # cut only between different probabilities
        f1 = 2 * tp / (tp + fp + positives)
        if f1 > best_f1:
            best_f1, best = f1, (p + nxt) / 2
    return best


def grouped_folds(
    ys: Sequence[bool], groups: Sequence[str], folds: int, seed: int
) -> list[tuple[list[int], list[int]]]:
    """``folds`` (train, test) index splits, all texts of a group on one side, seeded.

    A group (a posting page) goes to the fold with the fewest texts of its majority class
    so far, the largest groups first, so both classes spread over the folds. With one text
    per group this is a stratified split.
    """
    if folds < 2:
        raise ValueError("need at least 2 folds")
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    rng = random.Random(seed)  # noqa: S311 (reproducible folds, not secrets)
    names = sorted(members)
    rng.shuffle(names)
    names.sort(key=lambda g: -len(members[g]))  # stable: ties stay shuffled
    filled = {cls: [0] * folds for cls in (True, False)}
    fold_of = [0] * len(ys)
    for turn, g in enumerate(names):
        cls = 2 * sum(ys[i] for i in members[g]) >= len(members[g])
        sizes = filled[cls]
        least = min(sizes)
        # among the emptiest folds, take turns (so single texts spread like a stratified split)
        candidates = [f for f in range(folds) if sizes[f] == least]
        f = candidates[turn % len(candidates)]
        sizes[f] += len(members[g])
        for i in members[g]:
            fold_of[i] = f
    return [
        (
            [i for i in range(len(ys)) if fold_of[i] != f],
            [i for i in range(len(ys)) if fold_of[i] == f],
        )
        for f in range(folds)
    ]
