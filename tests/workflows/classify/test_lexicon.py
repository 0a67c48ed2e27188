"""The lexicon and the words never learned."""

from __future__ import annotations

import re

from workflows.classify.lexicon import (
    LEXICON,
    LEXICON_EXCEPTIONS,
    LEXICONS,
    LEXICONS_EXCEPTIONS,
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
    # The parties and politicians of Italy and Canada in the data, their countries, months.
    for word in ("salvini", "berlusconi", "renzi", "lega", "italia", "italiani", "ottobre"):
        assert feature(word, "it") is None, word
    for word in ("trudeau", "wynne", "libéraux", "liberals", "québec", "ontario", "octobre"):
        assert feature(word, "fr") is None, word
    assert feature("elezioni", "it") == "elezion"
    assert feature("élections", "fr") == "élection"


def test_french_and_italian_lexicons_weigh_public_life() -> None:
    french = Lexicon(LEXICONS["fr"], LEXICONS_EXCEPTIONS["fr"])
    for word in ("votation", "élections", "électorale", "députée", "parlementaires", "udc"):
        assert french.weight(word) == STRONG, word
    assert french.weight("loi") == MEDIUM
    assert french.weight("initiative") == WEAK
    assert french.weight("chaussures") == french.weight("parti") - MEDIUM == 0.0
    italian = Lexicon(LEXICONS["it"], LEXICONS_EXCEPTIONS["it"])
    for word in ("votazione", "elezioni", "elettorale", "sindaco", "parlamentari", "ppd"):
        assert italian.weight(word) == STRONG, word
    for word in ("elettrodomestici", "elettrico", "partita", "leggi", "scarpe"):
        assert italian.weight(word) == 0.0, word
    for lexicon in (french, italian, Lexicon(LEXICONS["de"], LEXICONS_EXCEPTIONS["de"])):
        assert lexicon.weight("election") == lexicon.weight("parliament") == STRONG


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
    every = [p for code in LEXICONS for p in (*LEXICONS[code], *LEXICONS_EXCEPTIONS[code])]
    for pattern in (*LEXICON, *LEXICON_EXCEPTIONS, *every):
        assert re.fullmatch(r"\*?[^\W\d_]+\*?", pattern), pattern
        assert tokenize(pattern.strip("*")) == [pattern.strip("*")], pattern
