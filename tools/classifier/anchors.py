"""Simple anchors the suggester is compared with: Naive Bayes, TF-IDF logistic regression.

Trained and scored on the same folds as the suggester, on the same words (``tokenize``),
without its lexicon, its words never learned or its stemming: what a plain bag of words
learns from the training folds alone. Plain Python, deterministic.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence

from workflows.classify.suggester import sigmoid

Scorer = Callable[[list[str]], float]


def naive_bayes(docs: Sequence[list[str]], ys: Sequence[bool]) -> Scorer:
    """Multinomial Naive Bayes (Laplace smoothing): a text's log-odds of "political"."""
    counts = {True: Counter[str](), False: Counter[str]()}
    for doc, y in zip(docs, ys, strict=True):
        counts[y].update(doc)
    vocabulary = set(counts[True]) | set(counts[False])
    totals = {c: sum(counts[c].values()) + len(vocabulary) for c in (True, False)}
    prior = math.log(sum(ys) / (len(ys) - sum(ys)))
    ratio = {
        w: math.log((counts[True][w] + 1) / totals[True])
        - math.log((counts[False][w] + 1) / totals[False])
        for w in vocabulary
    }

    def score(doc: list[str]) -> float:
        return prior + sum(ratio.get(w, 0.0) for w in doc)

    return score


def tfidf_logistic_regression(
    docs: Sequence[list[str]], ys: Sequence[bool], epochs: int = 10, l2: float = 1e-4
) -> Scorer:
    """Logistic regression over TF-IDF vectors (sublinear tf, smooth idf, unit length)."""
    n = len(docs)
    df = Counter[str](w for doc in docs for w in set(doc))
    idf = {w: math.log((1 + n) / (1 + c)) + 1 for w, c in df.items()}

    def vector(doc: list[str]) -> list[tuple[str, float]]:
        tf = Counter(w for w in doc if w in idf)
        v = [(w, (1 + math.log(c)) * idf[w]) for w, c in sorted(tf.items())]
        norm = math.sqrt(sum(x * x for _, x in v)) or 1.0
        return [(w, x / norm) for w, x in v]

    rows = [vector(doc) for doc in docs]
    w: dict[str, float] = {}
    g2: dict[str, float] = {}
    bias, bias_g2, rate = 0.0, 1e-6, 0.5
    rng = random.Random(0)  # noqa: S311 (reproducible shuffling, not secrets)
    order = list(range(n))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            z = bias + sum(w.get(f, 0.0) * x for f, x in rows[i])
            g = sigmoid(z) - (1.0 if ys[i] else 0.0)
            bias_g2 += g * g
            bias -= rate * g / math.sqrt(bias_g2)
            for f, x in rows[i]:
                gf = g * x + l2 * w.get(f, 0.0)
                g2[f] = g2.get(f, 1e-6) + gf * gf
                w[f] = w.get(f, 0.0) - rate * gf / math.sqrt(g2[f])

    def score(doc: list[str]) -> float:
        return bias + sum(w.get(f, 0.0) * x for f, x in vector(doc))

    return score


ANCHORS: dict[str, Callable[[Sequence[list[str]], Sequence[bool]], Scorer]] = {
    "naive_bayes": naive_bayes,
    "tfidf_logistic_regression": tfidf_logistic_regression,
}
