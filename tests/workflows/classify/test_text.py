"""The tokenizer and the stemmer."""

from __future__ import annotations

from workflows.classify.text import stem, tokenize


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
    assert tokenize("Die EU, die UN und die SP - ab zu so") == ["eu", "un", "sp"]


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
