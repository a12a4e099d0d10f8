"""Model-training commands: `datapipe train-quality` (and the other scorers' trainers).

Each command fingerprints its inputs and options and reuses an existing model when they are
unchanged, so the default pipeline can call it on every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from core.stagedir import file_identity, fingerprint
from pipeline import __version__
from stages.score.classifier import (
    NEGATIVE,
    POSITIVE,
    TrainOptions,
    train_classifier,
    training_pieces,
)
from stages.score.corpus import read_texts

# Web documents are scored for bucket cut-offs only when language ID agrees with the model.
_CUTOFF_LANG_SCORE = 0.5


def add_training_parsers(sub: Any) -> None:
    _add_classifier_parser(
        sub,
        "train-quality",
        ("positive", "negative"),
        "train the fastText quality classifier (reference text vs web)",
        "Train a bilingual fastText classifier: --positive reference text (Wikipedia, papers), "
        "--negative random web documents.",
    )
    _add_classifier_parser(
        sub,
        "train-safety",
        ("unsafe", "safe"),
        "train the fastText safety classifier (labelled unsafe vs safe pages)",
        "Train a bilingual fastText classifier: --unsafe labelled adult, gambling, violent "
        "pages, --safe ordinary pages. The score stage's safety_model_score is P(unsafe).",
    )
    _add_train_perplexity_parser(sub)


def _up_to_date(model: Path, metrics_path: Path, fp: str) -> bool:
    if not (model.exists() and metrics_path.exists()):
        return False
    return json.loads(metrics_path.read_text()).get("fingerprint") == fp


def _input_identity(paths: Sequence[str]) -> list[Any]:
    """Files (or every shard of a stage directory) with size and mtime: a changed input
    retrains, an unchanged one reuses the model."""
    files: list[str] = []
    for path in paths:
        given = Path(path)
        files += (
            [str(p) for p in sorted(given.rglob("*")) if p.is_file()] if given.is_dir() else [path]
        )
    return [file_identity(f) for f in files]


def _add_classifier_parser(
    sub: Any, name: str, flags: tuple[str, str], help_text: str, description: str
) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=description + " Prints and saves held-out precision, recall, F1 and "
        "score deciles (MODEL.metrics.json). Reuses MODEL when its inputs and options are "
        "unchanged.",
    )
    positive, negative = flags
    parser.add_argument(
        "--" + positive,
        dest="positive",
        nargs="+",
        required=True,
        metavar="PATH",
        help="JSONL(.gz/.zst) with a text field, WikiText files, stage dirs",
    )
    parser.add_argument("--" + negative, dest="negative", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--output", required=True, metavar="MODEL", help="e.g. models/x.ftz")
    for option, value in TrainOptions().__dict__.items():
        parser.add_argument(
            "--" + option.replace("_", "-"),
            type=type(value),
            default=value,
            help=f"(default: {value})",
        )
    parser.add_argument("--force", action="store_true", help="retrain even if up to date")
    parser.set_defaults(handler=_train_classifier)


def _train_classifier(args: argparse.Namespace) -> None:
    options = TrainOptions(**{k: getattr(args, k) for k in TrainOptions().__dict__})
    output = Path(args.output)
    fp = fingerprint(
        {
            "positive": _input_identity(args.positive),
            "negative": _input_identity(args.negative),
            "options": options.__dict__,
            "labels": [POSITIVE, NEGATIVE],
            "version": __version__,
        }
    )
    metrics_path = output.with_suffix(".metrics.json")
    if not args.force and _up_to_date(output, metrics_path, fp):
        print(
            f"{output} is up to date (same inputs and options); --force retrains", file=sys.stderr
        )
        return
    positives = training_pieces(t for p in args.positive for t in read_texts(p))
    negatives = training_pieces(t for p in args.negative for t in read_texts(p))
    metrics = train_classifier(positives, negatives, output, options)
    metrics["fingerprint"] = fp
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(_describe_metrics(metrics), file=sys.stderr)


def _describe_metrics(metrics: dict[str, Any]) -> str:
    lines = [f"held-out  {'docs':>10}  precision  recall     F1"]
    rows = [("all", metrics), *metrics["by_language"].items()]
    for name, m in rows:
        count = m["held_out"]["positive"] + m["held_out"]["negative"]
        lines.append(
            f"{name:<8}  {count:>10}  {m['precision']:>9.3f}  {m['recall']:>6.3f}  {m['f1']:>5.3f}"
        )
    deciles = " ".join(f"{v:.2f}" for v in metrics["score_deciles_positive"])
    lines.append(f"score deciles, positives: {deciles}")
    deciles = " ".join(f"{v:.2f}" for v in metrics["score_deciles_negative"])
    lines.append(f"score deciles, negatives: {deciles}")
    return "\n".join(lines)


def _add_train_perplexity_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "train-perplexity",
        help="train a per-language n-gram language model (cc_net-style perplexity)",
        description="Train an interpolated modified Kneser-Ney n-gram model on --input "
        "(reference text in one language). With --cutoff-sample (web documents), the "
        "head/middle/tail bucket cut-offs are set at the 33rd and 66th perplexity percentiles "
        "of that sample's documents in --lang, as cc_net does. Reuses MODEL when unchanged.",
    )
    parser.add_argument("--input", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--output", required=True, metavar="MODEL", help="e.g. models/lm.en.npz")
    parser.add_argument("--lang", required=True, help="en, zh, ...")
    parser.add_argument("--order", type=int, default=3, help="n-gram order (default: 3)")
    parser.add_argument("--min-count", type=int, default=2, help="rarer units become <unk>")
    parser.add_argument(
        "--cutoff-sample",
        nargs="+",
        default=[],
        metavar="PATH",
        help="web documents (files or stage dirs) for the bucket cut-offs",
    )
    parser.add_argument("--force", action="store_true", help="retrain even if up to date")
    parser.set_defaults(handler=_train_perplexity)


def _in_language(texts: Iterable[str], lang: str) -> Iterator[str]:
    from stages.filter.langid import identify

    for text in texts:
        found, score = identify(text)
        if found == lang and score >= _CUTOFF_LANG_SCORE:
            yield text


def _train_perplexity(args: argparse.Namespace) -> None:
    from stages.score.perplexity import NgramLM

    output = Path(args.output)
    record = output.with_suffix(".fingerprint.json")
    fp = fingerprint(
        {
            "input": _input_identity(args.input),
            "lang": args.lang,
            "order": args.order,
            "min_count": args.min_count,
            "cutoff_sample": _input_identity(args.cutoff_sample),
            "version": __version__,
        }
    )
    if not args.force and _up_to_date(output, record, fp):
        print(
            f"{output} is up to date (same inputs and options); --force retrains", file=sys.stderr
        )
        return
    texts = (t for p in args.input for t in read_texts(p))
    described = ", ".join(Path(p).name for p in args.input)
    lm = NgramLM.train(texts, args.lang, args.order, args.min_count, description=described)
    if args.cutoff_sample:
        sample = _in_language((t for p in args.cutoff_sample for t in read_texts(p)), args.lang)
        named = ", ".join(Path(p).name for p in args.cutoff_sample)
        head, middle = lm.set_cutoffs(sample, description=named)
        print(f"buckets: head < {head:.1f} <= middle < {middle:.1f} <= tail", file=sys.stderr)
    output.parent.mkdir(parents=True, exist_ok=True)
    lm.save(output)
    record.write_text(json.dumps({"fingerprint": fp}) + "\n")
    print(f"{output}: {args.lang} order {args.order}, {len(lm.vocab):,} units", file=sys.stderr)
