"""Training data, the model file's metadata and the command line: train, evaluate."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tools.classifier.evaluation import cross_validate
from tools.classifier.training import Options, train
from workflows.classify.suggester import MODEL_PATH

LICENCE = "MIT, ProPublica (see LICENSE-propublica)"
SOURCE = (
    "ProPublica Political Ad Collector, backend/classifier/data/de-AT/seeds.json of "
    "propublica/facebook-political-ads (commit 73914603): Facebook posts and ads from "
    "Austria, 2017, labelled by the page that posted them"
)


def load_data(path: Path) -> tuple[list[str], list[bool]]:
    """Texts and labels from ``{"political": [...], "not_political": [...]}``."""
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) and all(isinstance(t, str) for t in data[k])
        for k in ("political", "not_political")
    ):
        raise ValueError(f"{path}: expected lists of texts under 'political' and 'not_political'")
    political: list[str] = data["political"]
    other: list[str] = data["not_political"]
    return political + other, [True] * len(political) + [False] * len(other)


def _training_date() -> str:
    """Today (UTC), or SOURCE_DATE_EPOCH's date for byte-identical rebuilds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.date().isoformat()


def build_model(data: Path, folds: int = 5, seed: int = 2017) -> dict[str, Any]:
    """The shipped model: trained on all of ``data``, with its cross-validated metrics."""
    texts, labels = load_data(data)
    options = Options()
    metrics = cross_validate(texts, labels, folds=folds, seed=seed, options=options)
    model = train(texts, labels, options)
    model["metadata"] = {
        "source": SOURCE,
        "licence": LICENCE,
        "trained": _training_date(),
        "texts": metrics["texts"],
        "political": metrics["political"],
        "vocabulary_size": len(model["weights"]),
        "lexicon_size": len(model["lexicon"]),
        "threshold": model["threshold"],
        "cross_validation": metrics,
        "method": (
            "logistic regression over word presence (SGD, AdaGrad, L2) plus a hand-written "
            "lexicon; Platt calibration and F1-best threshold from out-of-fold predictions"
        ),
        "options": {
            "epochs": options.epochs,
            "rate": options.rate,
            "l2": options.l2,
            "min_count": options.min_count,
            "max_words": options.max_words,
            "calibration_folds": options.calibration_folds,
            "seed": options.seed,
        },
    }
    return model


def _metrics_line(metrics: dict[str, Any]) -> str:
    return (
        f"AUC {metrics['auc']:.4f}  precision {metrics['precision']:.4f}  "
        f"recall {metrics['recall']:.4f}  F1 {metrics['f1']:.4f}  "
        f"at threshold {metrics['threshold']:.4f}  "
        f"({metrics['folds']}-fold stratified cross-validation, {metrics['texts']} texts)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.classifier", description="Train or evaluate the suggester."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train on all texts and write the model")
    evaluate_cmd = commands.add_parser("evaluate", help="print cross-validated metrics")
    for cmd in (train_cmd, evaluate_cmd):
        cmd.add_argument("--data", type=Path, required=True, help="de-AT.json style texts")
        cmd.add_argument("--folds", type=int, default=5)
        cmd.add_argument("--seed", type=int, default=2017)
    train_cmd.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "evaluate":
        texts, labels = load_data(args.data)
        print(_metrics_line(cross_validate(texts, labels, folds=args.folds, seed=args.seed)))
        return 0
    model = build_model(args.data, folds=args.folds, seed=args.seed)
    text = json.dumps(model, ensure_ascii=False, sort_keys=True, indent=1)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(_metrics_line(model["metadata"]["cross_validation"]))
    print(
        f"wrote {args.out} ({len(text.encode()) // 1024} KiB, "
        f"{model['metadata']['vocabulary_size']} words, threshold {model['threshold']}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0
