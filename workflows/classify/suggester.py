"""The suggester at run time: a trained model's score of an ad text, and the words behind it.

The learned part is a logistic regression over word presence (1 if a word occurs in the
text; words reduced to a light stem, so "Schulen" counts as "Schule"), to which the
lexicon's weights are added. The score (log-odds) goes through a Platt calibration to a
probability, compared with the model's threshold.

The model file (``workflows/classifier_model.json``) holds word weights and metadata, never
texts. It is derived from ProPublica's data (MIT licence, see ``LICENSE-propublica``
beside it). Training and evaluation live outside the service, in ``tools.classifier``;
regenerate it with::

    python -m tools.classifier train --data ../shared/data/classifier/de-AT.json \\
        --out workflows/classifier_model.json
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.classify.lexicon import Lexicon, feature
from workflows.classify.text import tokenize, unique

MODEL_PATH = Path(__file__).parents[1] / "classifier_model.json"
FORMAT = "adgate-classifier/1"
MAX_TERMS = 8


@dataclass(frozen=True)
class Suggestion:
    probability: float  # 0..1, that the text is political / social issue
    label: str  # "political" or "not_political" (probability >= threshold)
    terms: tuple[str, ...]  # the words that pushed most towards "political", strongest first


class Suggester:
    """A trained model: word weights, lexicon, calibration and threshold."""

    def __init__(self, model: dict[str, Any]) -> None:
        if model.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model")
        self.model = model
        self.threshold: float = float(model["threshold"])
        self.bias: float = float(model["bias"])
        self.scale: float = float(model["calibration"]["scale"])
        self.offset: float = float(model["calibration"]["offset"])
        self.lexicon = Lexicon(model["lexicon"], model["lexicon_exceptions"])
        self.weights: dict[str, float] = model["weights"]
        self._words: dict[str, tuple[str | None, float]] = {}  # word -> (stem, lexicon weight)

    @classmethod
    def load(cls, path: Path | None = None) -> Suggester:
        """Read a model file (default: the shipped ``classifier_model.json``)."""
        with (path or MODEL_PATH).open(encoding="utf-8") as f:
            return cls(json.load(f))

    def _word(self, word: str) -> tuple[str | None, float]:
        known = self._words.get(word)
        if known is None:
            if len(self._words) >= 100_000:  # bounded memory in a long-running process
                self._words.clear()
            known = self._words[word] = (feature(word), self.lexicon.weight(word))
        return known

    def contributions(self, words: Iterable[str]) -> list[tuple[str, float]]:
        """Each distinct word (of ``tokenize``'s output) with the log-odds it adds.

        A word adds its lexicon weight and the learned weight of its stem; a stem counts
        once per text (the first of its words gets it), as in training.
        """
        seen: set[str] = set()
        parts = []
        for word in unique(words):
            base, value = self._word(word)
            if base is not None and base not in seen:
                seen.add(base)
                value += self.weights.get(base, 0.0)
            parts.append((word, value))
        return parts

    def score(self, words: Iterable[str]) -> float:
        """The uncalibrated log-odds of a tokenized text."""
        return self.bias + sum(v for _, v in self.contributions(words))

    def probability(self, words: Iterable[str]) -> float:
        """The calibrated probability that a tokenized text is political."""
        return sigmoid(self.scale * self.score(words) + self.offset)

    def suggest(self, text: str) -> Suggestion:
        parts = self.contributions(tokenize(text))
        score = self.bias + sum(v for _, v in parts)
        probability = sigmoid(self.scale * score + self.offset)
        label = "political" if probability >= self.threshold else "not_political"
        pushing = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        return Suggestion(probability, label, tuple(w for w, _ in pushing[:MAX_TERMS]))


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for scores far from 0."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
