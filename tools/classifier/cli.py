"""Training data, the model file's metadata and the command line: train, evaluate."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.classifier.evaluation import across_countries, cross_validate
from tools.classifier.training import Options, train
from workflows.classify.lexicon import LEXICONS
from workflows.classify.suggester import FORMAT, MODEL_PATH
from workflows.classify.text import LANGUAGE_WORDS, words
from workflows.classify.text import language as language_of

LICENCE = "MIT, ProPublica (see LICENSE-propublica)"
SOURCE = (
    "ProPublica Political Ad Collector, backend/classifier/data/<language-country>/seeds.json "
    "of propublica/facebook-political-ads (commit 73914603): Facebook posts and ads, 2017, "
    "labelled by the page that posted them"
)
DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "classifier"
DATA_FILES = ("de-AT.json", "fr-CA.json", "it-IT.json")
# The page a text was posted by, as the data gives it at the end of the text.
_PAGE = re.compile(r"\s*(https?://(?:www\.)?facebook\.com/[^\s/]+/?)\s*$")
_NAME = re.compile(r"([a-z]{2})-([A-Z]{2})\.json")
# English has no data file of its own: its part learns from the English texts of all.
ENGLISH = "en"


@dataclass(frozen=True)
class Source:
    """One data file: its language and country, texts (page URLs removed), labels, pages."""

    language: str
    country: str
    texts: list[str]
    labels: list[bool]
    pages: list[str] | None  # the posting page of each text; None: the file names none


def load_data(path: Path) -> tuple[list[str], list[bool], list[str] | None]:
    """Texts, labels and pages from ``{"political": [...], "not_political": [...]}``.

    A text ending with the URL of the page that posted it loses it (real ads carry no such
    URL, and it gives the label away); the URL becomes the text's group. When most texts
    carry none, there are no pages (None); otherwise a text without one is its own page.
    """
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) and all(isinstance(t, str) for t in data[k])
        for k in ("political", "not_political")
    ):
        raise ValueError(f"{path}: expected lists of texts under 'political' and 'not_political'")
    raw: list[str] = data["political"] + data["not_political"]
    labels = [True] * len(data["political"]) + [False] * len(data["not_political"])
    texts: list[str] = []
    pages: list[str] = []
    found = 0
    for k, text in enumerate(raw):
        m = _PAGE.search(text)
        if m:
            found += 1
            texts.append(text[: m.start()])
            pages.append(m.group(1).rstrip("/").casefold())
        else:
            texts.append(text)
            pages.append(f"#{k}")
    return texts, labels, (pages if 2 * found > len(raw) else None)


def load_source(path: Path) -> Source:
    """A data file named ``<language>-<COUNTRY>.json`` (``de-AT.json``) of a known language."""
    m = _NAME.fullmatch(path.name)
    if not m or m.group(1) not in LEXICONS:
        raise ValueError(
            f"{path}: name the file <language>-<COUNTRY>.json, language one of "
            + ", ".join(LEXICONS)
        )
    texts, labels, pages = load_data(path)
    return Source(m.group(1), m.group(2), texts, labels, pages)


def _by_language(sources: Sequence[Source]) -> dict[str, list[Source]]:
    """The sources of each language, and English: the English texts of every source."""
    out: dict[str, list[Source]] = {}
    for source in sources:
        out.setdefault(source.language, []).append(source)
    if ENGLISH not in out:
        english = [e for e in (_english(s) for s in sources) if e.texts]
        labels = [y for e in english for y in e.labels]
        if sum(labels) >= 10 and len(labels) - sum(labels) >= 10:  # enough of both to learn
            out[ENGLISH] = english
    return out


def _english(source: Source) -> Source:
    """The texts of ``source`` in English (by their function words), as a source."""
    keep = [
        k
        for k, text in enumerate(source.texts)
        if language_of(words(text), LANGUAGE_WORDS) == ENGLISH
    ]
    pages = source.pages or [f"#{k}" for k in range(len(source.texts))]
    return Source(
        ENGLISH,
        source.country,
        [source.texts[k] for k in keep],
        [source.labels[k] for k in keep],
        [f"{source.language}:{pages[k]}" for k in keep],
    )


def _pooled(sources: Sequence[Source]) -> tuple[list[str], list[bool], list[str] | None]:
    """The texts of one language's sources together (pages prefixed by country)."""
    texts = [t for s in sources for t in s.texts]
    labels = [y for s in sources for y in s.labels]
    if all(s.pages is None for s in sources):
        return texts, labels, None
    pages = [
        f"{s.country}:{p}"
        for s in sources
        for p in (s.pages if s.pages is not None else [f"#{k}" for k in range(len(s.texts))])
    ]
    return texts, labels, pages


def routes(sources: Sequence[Source]) -> dict[str, str]:
    """Each language without a part of its own -> the part whose texts held most of it."""
    parts = list(dict.fromkeys(s.language for s in sources))
    counts: dict[str, dict[str, int]] = {}
    for source in sources:
        for text in source.texts:
            code = language_of(words(text), LANGUAGE_WORDS)
            if code and code not in parts:
                held = counts.setdefault(code, dict.fromkeys(parts, 0))
                held[source.language] += 1
    return {code: max(held, key=lambda p: held[p]) for code, held in sorted(counts.items())}


def _training_date() -> str:
    """Today (UTC), or SOURCE_DATE_EPOCH's date for byte-identical rebuilds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.date().isoformat()


def train_parts(sources: Sequence[Source], options: Options | None = None) -> dict[str, Any]:
    """Each language's part, trained on all of its texts (pages grouping the inner folds)."""
    options = options or Options()
    parts: dict[str, Any] = {}
    for language, group in _by_language(sources).items():
        texts, labels, pages = _pooled(group)
        parts[language] = train(texts, labels, options, language=language, groups=pages)
    return parts


def _model(sources: Sequence[Source], parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "default_language": sources[0].language,
        "languages": parts,
        "routes": routes(sources),
    }


def evaluate(
    sources: Sequence[Source],
    folds: int = 5,
    seed: int = 2017,
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per language: cross-validation grouped by page, and leave one country out.

    The cross-validation also reads each fold's texts through the whole suggester, the
    other languages' parts trained on their own texts (``model``, made when not given);
    the English part, which learns from every source's English texts, is retrained
    without the fold's texts.
    """
    options = Options()
    model = model or _model(sources, train_parts(sources, options))
    groups = _by_language(sources)
    english = _pooled(groups[ENGLISH]) if ENGLISH in groups else None

    def without(test_texts: set[str]) -> dict[str, Any]:
        if english is None:
            return {}
        texts, labels, pages = english
        keep = [k for k, t in enumerate(texts) if t not in test_texts]
        part = train(
            [texts[k] for k in keep],
            [labels[k] for k in keep],
            options,
            language=ENGLISH,
            groups=None if pages is None else [pages[k] for k in keep],
        )
        return {ENGLISH: part}

    out: dict[str, Any] = {}
    for language, group in groups.items():
        texts, labels, pages = _pooled(group)
        metrics: dict[str, Any] = {
            "sources": [f"{s.language}-{s.country}" for s in group]
            if language != ENGLISH
            else [f"English texts of {s.country}" for s in group],
            "cross_validation": cross_validate(
                texts,
                labels,
                pages,
                language=language,
                folds=folds,
                seed=seed,
                options=options,
                model=model,
                refit=None if language == ENGLISH else without,
            ),
            "leave_one_country_out": None,
        }
        if len(group) >= 2:
            metrics["leave_one_country_out"] = across_countries(
                {s.country: (s.texts, s.labels, s.pages) for s in group},
                language=language,
                options=options,
            )
        out[language] = metrics
    return out


def build_model(paths: Sequence[Path], folds: int = 5, seed: int = 2017) -> dict[str, Any]:
    """The shipped model: one part per language, trained on all of its texts, measured."""
    sources = [load_source(p) for p in paths]
    options = Options()
    model = _model(sources, train_parts(sources, options))
    measured = evaluate(sources, folds=folds, seed=seed, model=model)
    for language, part in model["languages"].items():
        measured[language]["vocabulary_size"] = len(part["weights"])
        measured[language]["lexicon_size"] = len(part["lexicon"])
        measured[language]["threshold"] = part["threshold"]
    return {
        **model,
        "metadata": {
            "source": SOURCE,
            "files": [p.name for p in paths],
            "licence": LICENCE,
            "trained": _training_date(),
            "languages": measured,
            "method": (
                "per language: logistic regression over word presence (SGD, AdaGrad, L2) "
                "plus Naive Bayes log-count ratios (share nb_weight) plus a hand-written "
                "lexicon; Platt calibration and F1-best threshold from out-of-fold "
                "predictions grouped by page"
            ),
            "options": {
                "epochs": options.epochs,
                "rate": options.rate,
                "l2": options.l2,
                "min_count": options.min_count,
                "max_words": options.max_words,
                "calibration_folds": options.calibration_folds,
                "seed": options.seed,
                "nb_weight": options.nb_weight,
            },
        },
    }


def report(measured: dict[str, Any]) -> list[str]:
    """Lines of text: per language, the suggester's and the anchors' figures."""
    lines = []
    for language, m in measured.items():
        cv = m["cross_validation"]
        anchors = cv["anchors"]
        how = (
            f"grouped by page ({cv['pages']} pages)"
            if cv["grouped_by"] == "page"
            else "by text (the data names no pages)"
        )
        lines.append(
            f"{language} ({', '.join(m['sources'])}): {cv['folds']}-fold cross-validation "
            f"{how}, {cv['texts']} texts: AUC {cv['auc']:.4f}  precision "
            f"{cv['precision']:.4f}  recall {cv['recall']:.4f}  F1 {cv['f1']:.4f}  at "
            f"threshold {cv['threshold']:.4f}; through the whole suggester (as classify "
            f"reads them) AUC {cv.get('auc_routed', float('nan')):.4f}; anchors: Naive Bayes AUC "
            f"{anchors['naive_bayes']:.4f}, TF-IDF logistic regression AUC "
            f"{anchors['tfidf_logistic_regression']:.4f}"
        )
        loco = m["leave_one_country_out"]
        if loco is None:
            lines.append(f"{language}: leave one country out: not possible, one country only")
        else:
            for country, r in loco.items():
                lines.append(
                    f"{language}: leave {country} out ({r['texts']} texts): AUC {r['auc']:.4f}"
                    f"  precision {r['precision']:.4f}  recall {r['recall']:.4f}; anchors: "
                    f"Naive Bayes {r['anchors']['naive_bayes']:.4f}, TF-IDF logistic "
                    f"regression {r['anchors']['tfidf_logistic_regression']:.4f}"
                )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.classifier", description="Train or evaluate the suggester."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train on all texts and write the model")
    evaluate_cmd = commands.add_parser("evaluate", help="print cross-validated metrics")
    for cmd in (train_cmd, evaluate_cmd):
        cmd.add_argument(
            "--data",
            type=Path,
            action="append",
            help="a <language>-<COUNTRY>.json file of texts, once per file (default: "
            f"{', '.join(DATA_FILES)} in ../shared/data/classifier)",
        )
        cmd.add_argument("--folds", type=int, default=5)
        cmd.add_argument("--seed", type=int, default=2017)
    train_cmd.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    paths: list[Path] = args.data or [DATA_DIR / name for name in DATA_FILES]
    started = time.perf_counter()
    if args.command == "evaluate":
        for line in report(evaluate([load_source(p) for p in paths], args.folds, args.seed)):
            print(line)
        return 0
    model = build_model(paths, folds=args.folds, seed=args.seed)
    text = json.dumps(model, ensure_ascii=False, sort_keys=True, indent=1)
    args.out.write_text(text + "\n", encoding="utf-8")
    for line in report(model["metadata"]["languages"]):
        print(line)
    sizes = ", ".join(
        f"{code} {len(part['weights'])} words, threshold {part['threshold']}"
        for code, part in model["languages"].items()
    )
    print(
        f"wrote {args.out} ({len(text.encode()) // 1024} KiB; {sizes}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0
