"""The tokenizer and the stemmer."""

from __future__ import annotations

from workflows.classify.text import LANGUAGE_WORDS, language, stem, tokenize, words


def test_tokenize_lowercases_and_keeps_umlauts() -> None:
    assert tokenize("Bürgermeisterin ÖFFNET Äpfel") == ["bürgermeisterin", "öffnet", "äpfel"]


def test_tokenize_folds_sharp_s_like_swiss_spelling() -> None:
    assert tokenize("Straße und Strasse, GROSSE Größe") == [
        "strasse",
        "strasse",
        "grosse",
        "grösse",
    ]


def test_tokenize_normalizes_unicode() -> None:
    decomposed = "Wa\u0308hlen"  # "a" + combining diaeresis
    assert tokenize(decomposed) == ["wählen"]


def test_tokenize_drops_urls_mentions_numbers_short_and_stop_words() -> None:
    text = (
        "Jetzt 20% sparen: https://shop.example.com/sale?x=1 www.example.de bit.ly/3xYz "
        "spoe.at info@example.org @shopname am 3.5. ab 19,99 € - z. B. bei uns!"
    )
    assert tokenize(text) == ["sparen"]


def test_tokenize_splits_hashtags_from_digits() -> None:
    assert tokenize("#Wahl2017 #NRW17 #Gemeinderatswahl") == ["wahl", "nrw", "gemeinderatswahl"]


def test_tokenize_joins_gender_forms() -> None:
    assert tokenize("Bürger*innen, Lehrer:innen und Wähler_innen") == [
        "bürgerinnen",
        "lehrerinnen",
        "wählerinnen",
    ]


def test_tokenize_keeps_meaningful_short_words() -> None:
    assert tokenize("Die EU, die UN und die SP - ab zu so") == ["eu", "sp"]
    assert tokenize("un accord avec l'UE") == ["accord", "ue"]  # "un" is an article


def test_tokenize_drops_french_and_italian_function_words_and_elisions() -> None:
    assert tokenize("L'État et les cantons, qu'en pensez-vous ?") == [
        "état",
        "cantons",
        "pensez",
    ]
    assert tokenize("Dell'Italia e della Svizzera, nell'interesse di tutti") == [
        "italia",
        "svizzera",
        "interesse",
    ]


def test_language_is_the_one_with_most_function_words() -> None:
    codes = ("de", "fr", "it")
    assert language(words("Am Sonntag ist die Wahl, und wir sind dabei"), codes) == "de"
    assert language(words("Le Conseil d'État et les communes de la région"), codes) == "fr"
    assert language(words("Il Consiglio di Stato e i comuni della regione"), codes) == "it"
    assert language(words("Vote for the future of our city"), (*codes, "en")) == "en"
    assert language(words("#Gemeinderatswahl 2026"), codes) is None  # no function word
    assert language(words("In piazza a Palermo"), codes) is None  # "in": German and Italian
    assert language(words("la"), ("fr", "it")) is None  # a tie
    assert language(words("Il presidente contro le mafie"), codes) is None
    assert language(words("Il governo e le regioni"), codes) == "it"  # "e" is Italian only
    assert all(w == w.casefold() for ws in LANGUAGE_WORDS.values() for w in ws)


def test_tokenize_handles_empty_and_non_latin_text() -> None:
    assert tokenize("") == []
    assert tokenize("123 !!! 😀") == []
    assert tokenize("Ελλάδα") == ["ελλάδα"]


def test_stem_strips_one_inflection_ending() -> None:
    assert stem("wohnungen") == stem("wohnung") == "wohnung"
    assert stem("schulen") == stem("schule") == "schul"
    assert stem("kindern") == "kinder"
    assert stem("diskussion") == "diskussion"  # no "-n" after a vowel
    assert stem("status") == "status"
    assert stem("wahl") == "wahl"  # stems keep four letters


def test_stems_of_french_italian_and_english() -> None:
    assert stem("élections", "fr") == stem("élection", "fr") == "élection"
    assert stem("politiques", "fr") == stem("politique", "fr") == "politiqu"
    assert stem("politica", "it") == stem("politici", "it") == stem("politiche", "it")
    assert stem("elezioni", "it") == stem("elezione", "it") == "elezion"
    assert stem("elections", "en") == "election"
    assert stem("vote", "it") == "vote"  # stems keep four letters
