"""The suggester at run time: a trained model's score of an ad text, and the words behind it.

The model has one part per language (German, French, Italian). A text's language is the
one whose function words it uses most (``text.language``); that language's part scores
it. A language without a part of its own (English) is read by the part whose training
texts held most of it (``routes``); a text without function words (hashtags, a few words)
or as many of two languages by the part that knows most of its words. Each part is a
logistic regression over word presence (1 if a word occurs in the text; words reduced to
a light stem of the language, so "Schulen" counts as "Schule" and "élections" as
"élection"), to which the language's lexicon weights are added. The score (log-odds)
goes through the part's Platt calibration to a probability, compared with the part's
threshold.

The model file (``workflows/classifier_model.json``) holds word weights and metadata, never
texts. It is derived from ProPublica's data (MIT licence, see ``LICENSE-propublica``
beside it). Training and evaluation live outside the service, in ``tools.classifier``;
regenerate it with (docs/classifier.md)::

    python -m tools.classifier train --data ../shared/data/classifier/de-AT.json \\
        --data ../shared/data/classifier/fr-CA.json \\
        --data ../shared/data/classifier/it-IT.json --out workflows/classifier_model.json
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.classify.lexicon import Lexicon, feature
from workflows.classify.text import content_words, language, tokenize, unique, words

MODEL_PATH = Path(__file__).parents[1] / "classifier_model.json"
FORMAT = "adgate-classifier/2"
MAX_TERMS = 8


@dataclass(frozen=True)
class Suggestion:
    probability: float  # 0..1, that the text is political / social issue
    label: str  # "political" or "not_political" (probability >= threshold)
    terms: tuple[str, ...]  # the words that pushed most towards "political", strongest first
    language: str = "de"  # the language part that read the text: "de", "fr" or "it"


class LanguageModel:
    """One language's part of a model: word weights, lexicon, calibration and threshold."""

    def __init__(self, part: dict[str, Any], language: str) -> None:
        self.language = language
        self.threshold: float = float(part["threshold"])
        self.bias: float = float(part["bias"])
        self.scale: float = float(part["calibration"]["scale"])
        self.offset: float = float(part["calibration"]["offset"])
        self.lexicon = Lexicon(part["lexicon"], part["lexicon_exceptions"])
        self.weights: dict[str, float] = part["weights"]
        self._words: dict[str, tuple[str | None, float]] = {}  # word -> (stem, lexicon weight)

    def _word(self, word: str) -> tuple[str | None, float]:
        known = self._words.get(word)
        if known is None:
            if len(self._words) >= 100_000:  # bounded memory in a long-running process
                self._words.clear()
            known = self._words[word] = (
                feature(word, self.language),
                self.lexicon.weight(word),
            )
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

    def known(self, words: Iterable[str]) -> int:
        """How many of the (tokenized) ``words`` this part has a weight for."""
        count = 0
        for word in unique(words):
            base, value = self._word(word)
            count += bool(value) or (base is not None and base in self.weights)
        return count

    def score(self, words: Iterable[str]) -> float:
        """The uncalibrated log-odds of a tokenized text."""
        return self.bias + sum(v for _, v in self.contributions(words))

    def probability(self, words: Iterable[str]) -> float:
        """The calibrated probability that a tokenized text is political."""
        return sigmoid(self.scale * self.score(words) + self.offset)

    def suggest_words(self, words: Iterable[str]) -> Suggestion:
        """The suggestion for a tokenized text."""
        parts = self.contributions(words)
        score = self.bias + sum(v for _, v in parts)
        probability = sigmoid(self.scale * score + self.offset)
        label = "political" if probability >= self.threshold else "not_political"
        pushing = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        terms = tuple(w for w, _ in pushing[:MAX_TERMS])
        return Suggestion(probability, label, terms, self.language)


class Suggester:
    """A trained model: one ``LanguageModel`` per language, the first one the default."""

    def __init__(self, model: dict[str, Any]) -> None:
        if model.get("format") != FORMAT or not model.get("languages"):
            raise ValueError(f"not a {FORMAT} model")
        self.model = model
        self.parts: dict[str, LanguageModel] = {
            code: LanguageModel(part, code) for code, part in model["languages"].items()
        }
        self.default: str = model.get("default_language") or next(iter(self.parts))
        # Languages without a part of their own, read by another part: {"en": "fr"}.
        self.routes: dict[str, str] = {code: code for code in self.parts}
        for code, target in model.get("routes", {}).items():
            self.routes.setdefault(code, target)
        if self.default not in self.parts or not set(self.routes.values()) <= set(self.parts):
            raise ValueError(f"not a {FORMAT} model: a language without a part")

    @classmethod
    def load(cls, path: Path | None = None) -> Suggester:
        """Read a model file (default: the shipped ``classifier_model.json``)."""
        with (path or MODEL_PATH).open(encoding="utf-8") as f:
            return cls(json.load(f))

    def _part(self, all_words: list[str], content: list[str]) -> LanguageModel:
        """The part for a text: by its function words, else the part knowing most words."""
        code = language(all_words, self.routes)
        if code is not None:
            return self.parts[self.routes[code]]
        # No function word (hashtags, a few words) or a tie ("Il presidente", shared by
        # French and Italian): the part that knows most of its words, else the default one.
        known = {code: part.known(content) for code, part in self.parts.items()}
        best = max(known, key=lambda code: known[code])
        return self.parts[best if known[best] > known[self.default] else self.default]

    def language_of(self, text: str) -> str:
        """The language part that reads ``text``."""
        all_words = words(text)
        return self._part(all_words, content_words(all_words)).language

    def threshold(self, language: str | None = None) -> float:
        """The operating threshold of a language's part (default: the default language)."""
        return self.parts[language or self.default].threshold

    def suggest(self, text: str) -> Suggestion:
        all_words = words(text)
        content = content_words(all_words)
        return self._part(all_words, content).suggest_words(content)


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for scores far from 0."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


__all__ = ["FORMAT", "MODEL_PATH", "LanguageModel", "Suggester", "Suggestion", "tokenize"]
