"""The lexicon and the words never learned."""

from __future__ import annotations

import re

from workflows.classify.lexicon import (
    LEXICON,
    LEXICON_EXCEPTIONS,
    MEDIUM,
    STRONG,
    WEAK,
    Lexicon,
    feature,
)
from workflows.classify.text import tokenize


def test_names_places_and_parties_are_never_learned() -> None:
    for word in ("kurz", "kurze", "hamburg", "hamburger", "österreich", "oktober", "spd", "orf"):
        assert feature(word) is None, word
    assert feature("wohnungen") == "wohnung"


def test_lexicon_matches_compounds_by_prefix_and_suffix() -> None:
    lexicon = Lexicon(LEXICON, LEXICON_EXCEPTIONS)
    for word in (
        "gemeinderatswahl",
        "bundestagswahlen",
        "volksabstimmung",
        "wahlkampfauftakt",
        "stadträtin",
        "oberbürgermeisterin",
        "gesundheitspolitik",
        "kantonsrat",
        "spitzenkandidatin",
    ):
        assert lexicon.weight(word) == STRONG, word
    assert lexicon.weight("klimaschutzgesetz") == MEDIUM
    assert lexicon.weight("wahl") == WEAK  # "die beste Wahl" is not political


def test_lexicon_exceptions_and_unrelated_words_weigh_nothing() -> None:
    lexicon = Lexicon(LEXICON, LEXICON_EXCEPTIONS)
    for word in ("auswahl", "farbauswahl", "durchwahl", "preispolitik", "initiative", "sneaker"):
        assert lexicon.weight(word) == 0.0, word


def test_lexicon_patterns_are_normalized_words() -> None:
    for pattern in (*LEXICON, *LEXICON_EXCEPTIONS):
        assert re.fullmatch(r"\*?[^\W\d_]+\*?", pattern), pattern
        assert tokenize(pattern.strip("*")) == [pattern.strip("*")], pattern
