"""The ``rsgpt4v`` command line: quickstart, build, validate, stats, push, generate, ...

Every output option is ``--out``. Progress bars are on by default; ``--no-progress`` (or the environment
variable ``RSGPT4V_NO_PROGRESS=1``) turns them off everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rsgpt4v import __version__

__all__ = ["main"]

#: Subcommands implemented in other modules: name -> (module, help, its add-arguments function, its run function).
_EXTERNAL: dict[str, tuple[str, str, str, str]] = {
    "build": (
        "rsgpt4v.build_command",
        "build typed configs from sources into a hub-layout folder",
        "add_arguments",
        "run",
    ),
    "push": ("rsgpt4v.hub", "upload a built folder to the Hugging Face Hub", "add_push_arguments", "run_push"),
    "predict": (
        "rsgpt4v.predict",
        "run a model over a config and split, writing predictions JSONL",
        "add_arguments",
        "run",
    ),
    "evaluate": (
        "rsgpt4v.evaluate_command",
        "score predictions: JSON and Markdown report, PNG plots",
        "add_arguments",
        "run",
    ),
    "tiny-model": (
        "rsgpt4v.tiny_model_command",
        "write a tiny random LLaVA with its processor (offline; tests, demo)",
        "add_arguments",
        "run",
    ),
    "train": (
        "rsgpt4v.training.command",
        "fine-tune a LLaVA model on a build (full, lora, moe-lora recipes)",
        "add_arguments",
        "run",
    ),
    "merge": (
        "rsgpt4v.training.merging",
        "merge an adapter into its base model (llava-hf layout)",
        "add_arguments",
        "run",
    ),
    "push-model": (
        "rsgpt4v.training.publish",
        "upload a trained model or adapter with its model card",
        "add_arguments",
        "run",
    ),
    "demo": ("rsgpt4v.demo.command", "run the Gradio demo locally", "add_arguments", "run"),
    "generate": (
        "rsgpt4v.generate.command",
        "generate detailed descriptions and conversations with an OpenAI-compatible VLM",
        "add_arguments",
        "run",
    ),
}


def _progress(args: argparse.Namespace) -> bool:
    return not (args.no_progress or os.environ.get("RSGPT4V_NO_PROGRESS") == "1")


def _cmd_validate(args: argparse.Namespace) -> int:
    from rsgpt4v.validate import validate

    summary = validate(args.folder, check_images=not args.skip_images)
    total_rows = sum(summary["rows"].values())
    total_items = sum(summary["items"].values())
    print(f"{args.folder}: valid ({total_rows} rows, {total_items} items)")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from rsgpt4v.validate import stats_table

    print(stats_table(args.folder))
    return 0


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from rsgpt4v.quickstart import quickstart

    quickstart(Path(args.out), n_images=args.images, seed=args.seed, progress=_progress(args))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rsgpt4v", description="RS-GPT4V remote-sensing instruction data and models."
    )
    parser.add_argument("--version", action="version", version=f"rsgpt4v {__version__}")
    parser.add_argument("--no-progress", action="store_true", help="turn off progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("quickstart", help="build, validate and load the embedded synthetic sample")
    p.add_argument("--out", default="rsgpt4v-data", help="output folder (default: ./rsgpt4v-data)")
    p.add_argument("--images", type=int, default=600, help="number of synthetic images (default: 600)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    p.set_defaults(func=_cmd_quickstart)

    p = sub.add_parser("validate", help="re-read a build: schema, unique ids, images, counts against the report")
    p.add_argument("folder", type=Path)
    p.add_argument("--skip-images", action="store_true", help="do not decode every image")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("stats", help="a table per config, source and split")
    p.add_argument("folder", type=Path)
    p.set_defaults(func=_cmd_stats)

    for name, (module, help_text, add, run) in sorted(_EXTERNAL.items()):
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        getattr(mod, add)(p)
        p.set_defaults(func=getattr(mod, run))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors print one clear line, exit status 1 or 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.progress = _progress(args)
    if not args.progress:
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as exc:
        print(f"rsgpt4v {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
