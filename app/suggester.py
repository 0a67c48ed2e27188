"""The classification suggester in the app: one loaded model per process, and ``classify``.

The model itself (``workflows.classify``) is pure Python; this module only loads it once
and offers it on the command line as JSON Lines.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import click

from workflows.classify.suggester import Suggester


@functools.cache
def get_suggester() -> Suggester:
    """The shipped model, read once per process and shared (also between threads)."""
    return Suggester.load()


def _parse(line: bytes) -> str:
    """The ``text`` of one JSON Lines record; ValueError says what is wrong with it."""
    try:
        record: Any = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ValueError('expected an object like {"text": "..."}')
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError('expected a "text" string')
    return text


@click.command("classify")
def classify_command() -> None:
    """Suggest whether ad texts are political or about a social issue.

    Reads JSON Lines from standard input, one object per line, and writes one line per
    input line, in the same order:

    \b
      in:  {"text": "Votation du 9 juin : votez OUI !"}
      out: {"probability": 0.97, "label": "political", "terms": ["votation", "votez"],
            "language": "fr"}

    German, French and Italian texts are read in their language ("language": "de", "fr"
    or "it"; English is read too). "label" is "political" or "not_political" (the
    probability against the language's threshold); "terms" are the text's words that
    pushed most towards "political", strongest first.

    A bad line (not JSON, or without a "text" string) gets {"error": "..."} on its output
    line; the remaining lines are still processed, and the command then exits with
    status 1. Input is processed line by line, so it may be of any length.
    """
    suggester = get_suggester()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer  # bytes: JSON Lines are UTF-8
    failed = False
    for number, raw in enumerate(stdin, start=1):
        line = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw  # a UTF-8 BOM
        answer: dict[str, Any]
        try:
            text = _parse(line)
        except ValueError as error:
            failed = True
            answer = {"error": f"line {number}: {error}"}
        else:
            suggestion = suggester.suggest(text)
            answer = {
                "probability": suggestion.probability,
                "label": suggestion.label,
                "terms": list(suggestion.terms),
                "language": suggestion.language,
            }
        stdout.write(json.dumps(answer, ensure_ascii=False).encode("utf-8") + b"\n")
        stdout.flush()
    if failed:
        raise click.exceptions.Exit(1)
