"""``classify``: JSON Lines in, one suggestion (or error) per line out, in order."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from app.suggester import classify_command, get_suggester
from workflows.classify.suggester import Suggester

POLITICAL = "Am Sonntag ist Gemeinderatswahl: Gehen Sie wählen!"
COMMERCIAL = "20% Rabatt auf alle Sneaker, nur dieses Wochenende"


def run(lines: list[str]) -> tuple[Result, list[dict[str, Any]]]:
    result = CliRunner().invoke(classify_command, input="".join(f"{x}\n" for x in lines))
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def record(text: str) -> str:
    return json.dumps({"text": text}, ensure_ascii=False)


def test_good_lines_get_suggestions_in_order() -> None:
    result, answers = run([record(POLITICAL), record(COMMERCIAL), record("Volksabstimmung")])
    assert result.exit_code == 0, result.output
    assert [a["label"] for a in answers] == ["political", "not_political", "political"]
    assert answers[0]["terms"][0] == "gemeinderatswahl"
    assert answers[1]["terms"] == [] or "sneaker" not in answers[1]["terms"]
    for answer in answers:
        assert set(answer) == {"probability", "label", "terms", "language"}
        assert 0.0 <= answer["probability"] <= 1.0
    assert answers[0]["probability"] == get_suggester().suggest(POLITICAL).probability


def test_french_and_italian_texts_are_scored_with_their_terms() -> None:
    texts = [
        "Votation du 9 juin : votez OUI à l'initiative pour des loyers abordables !",
        "Nouvelle collection de robes en lin, livraison gratuite dès 50 francs.",
        "Votazione del 9 giugno: votate Sì all'iniziativa popolare sui premi di cassa malati!",
        "Saldi estivi: sconto del 30% su tutte le scarpe, solo questo fine settimana!",
    ]
    result, answers = run([record(t) for t in texts])
    assert result.exit_code == 0, result.output
    assert [(a["language"], a["label"]) for a in answers] == [
        ("fr", "political"),
        ("fr", "not_political"),
        ("it", "political"),
        ("it", "not_political"),
    ]
    assert answers[0]["terms"][:2] == ["votation", "votez"]
    assert {"votazione", "votate", "iniziativa"} <= set(answers[2]["terms"])
    for text, answer in zip(texts, answers, strict=True):
        suggestion = get_suggester().suggest(text)
        assert answer == {
            "probability": suggestion.probability,
            "label": suggestion.label,
            "terms": list(suggestion.terms),
            "language": suggestion.language,
        }


def test_output_is_utf8_not_escaped() -> None:
    result = CliRunner().invoke(classify_command, input=record(POLITICAL) + "\n")
    assert result.exit_code == 0
    assert '"wählen"' in result.stdout
    assert "\\u00e4" not in result.stdout


def test_a_bad_line_gets_an_error_the_rest_is_processed_and_the_exit_is_1() -> None:
    lines = [
        record(POLITICAL),
        "this is not JSON",
        json.dumps({"txt": POLITICAL}),
        json.dumps({"text": 42}),
        json.dumps([POLITICAL]),
        "",
        record(COMMERCIAL),
    ]
    result, answers = run(lines)
    assert result.exit_code == 1
    assert len(answers) == len(lines)
    assert answers[0]["label"] == "political"
    assert answers[1]["error"].startswith("line 2: not JSON")
    assert answers[2] == {"error": 'line 3: expected a "text" string'}
    assert answers[3] == {"error": 'line 4: expected a "text" string'}
    assert answers[4]["error"].startswith("line 5: expected an object")
    assert answers[5]["error"].startswith("line 6: not JSON")
    assert answers[6]["label"] == "not_political"
    for answer in answers[1:6]:
        assert set(answer) == {"error"}
        assert POLITICAL not in answer["error"]


def test_invalid_utf8_is_a_bad_line() -> None:
    payload = b'{"text": "\xff"}\n' + record(COMMERCIAL).encode() + b"\n"
    result = CliRunner().invoke(classify_command, input=payload)
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"error": "line 1: not UTF-8"}
    assert second["label"] == "not_political"


def test_a_byte_order_mark_and_crlf_are_accepted() -> None:
    payload = b"\xef\xbb\xbf" + record(POLITICAL).encode() + b"\r\n"
    result = CliRunner().invoke(classify_command, input=payload)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] == "political"


def test_empty_input_writes_nothing() -> None:
    result = CliRunner().invoke(classify_command, input="")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_help_explains_the_format_and_the_exit_status() -> None:
    result = CliRunner().invoke(classify_command, ["--help"])
    assert result.exit_code == 0
    assert '{"text": ' in result.stdout
    assert "exits with" in result.stdout
    assert "status 1" in result.stdout


def test_the_model_is_loaded_once_per_process() -> None:
    assert get_suggester() is get_suggester()
    assert isinstance(get_suggester(), Suggester)
