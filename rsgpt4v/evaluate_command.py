"""``rsgpt4v evaluate``: score a predictions file against a build; JSON and Markdown report, PNG plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from rsgpt4v.data import DEFAULT_PATH
from rsgpt4v.schema import TASKS

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v evaluate`` options to ``parser``."""
    parser.add_argument(
        "--preds", required=True, type=Path, help="predictions JSON lines (rsgpt4v predict output or LLaVA answers)"
    )
    parser.add_argument(
        "--data", default=DEFAULT_PATH, help=f"built folder or Hub dataset id (default: {DEFAULT_PATH})"
    )
    parser.add_argument(
        "--config",
        action="append",
        choices=TASKS,
        help="task config to score (repeatable; default: the configs recorded in the predictions, else all)",
    )
    parser.add_argument("--split", help="split (default: the one recorded in the predictions, else test)")
    parser.add_argument("--out", type=Path, help="folder for report.json, report.md and the plots")
    parser.add_argument(
        "--release-file",
        help="stem of the released evaluation file that LLaVA answers with integer question_ids answer "
        "(e.g. UCM-Captions): their ids become '<stem>/<id>' as the build keeps them",
    )
    parser.add_argument(
        "--unknown",
        choices=("error", "count"),
        default="error",
        help="predictions whose question_id is not in the data: stop with an error (default) or count and list them",
    )
    parser.add_argument(
        "--only-predicted",
        action="store_true",
        help="score only items that have a prediction (default: missing predictions count as wrong)",
    )
    parser.add_argument("--no-tokenize", action="store_true", help="skip the PTB tokenisation of caption metrics")
    parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (no Java start)")
    parser.add_argument(
        "--box-format",
        choices=("pixel", "norm01", "grid100", "grid1000"),
        help="box format of grounding answers (default: the build's, else any)",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG plots")


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v evaluate``: prints the Markdown report and writes the files under ``--out``."""
    from rsgpt4v.evaluation.report import evaluate, markdown_report, write_report

    report = evaluate(
        args.preds,
        args.data,
        configs=args.config,
        split=args.split,
        question_id_prefix=f"{args.release_file}/" if args.release_file else "",
        unknown=args.unknown,
        only_predicted=args.only_predicted,
        tokenize=not args.no_tokenize,
        meteor=not args.no_meteor,
        box_format=args.box_format,
    )
    print(markdown_report(report), end="")
    if args.out is not None:
        files = write_report(report, args.out, plots=not args.no_plots)
        print(f"wrote {', '.join(str(f) for f in files)}")
    return 0
