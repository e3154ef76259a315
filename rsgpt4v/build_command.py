"""Build typed configs into a hub-layout folder: ``rsgpt4v build [--synthetic N] [--source NAME=PATH ...] --out DIR``.

Options can also come from a YAML file (``--config build.yaml``) whose keys are the long option names
(``synthetic``, ``source`` as a mapping or list of ``NAME=PATH``, ``image_root``, ``workers``, ``prefer``,
``allow_leakage``, ``box_format``, ``no_pad``, ``max_shard_size``, ``out``); command-line options win.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from rsgpt4v.build import BuildInput, BuildOptions, build
from rsgpt4v.rows import AdaptionOptions

__all__ = ["add_arguments", "inputs_from_args", "parse_pairs", "run"]

_DEFAULTS: dict[str, Any] = {
    "synthetic": 0,
    "synthetic_size": 64,
    "seed": 0,
    "source": [],
    "image_root": [],
    "workers": 1,
    "prefer": None,
    "allow_leakage": False,
    "box_format": "norm01",
    "no_pad": False,
    "max_shard_size": 500,
    "out": None,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``build`` options to a parser."""
    parser.add_argument("--config", type=Path, help="a YAML file with any of these options")
    parser.add_argument("--synthetic", type=int, help="add N procedurally generated images (every task)")
    parser.add_argument("--synthetic-size", type=int, help="side of the synthetic images in pixels (default 64)")
    parser.add_argument("--seed", type=int, help="seed of the synthetic generator (default 0)")
    parser.add_argument(
        "--source", action="append", metavar="NAME=PATH", help="a source dataset and its root folder (repeatable)"
    )
    parser.add_argument(
        "--image-root", action="append", metavar="PARENT=DIR", help="images of a parent dataset (RSIVQA; repeatable)"
    )
    parser.add_argument("--workers", type=int, help="processes that decode and write the shards (default 1)")
    parser.add_argument("--prefer", choices=["release", "legacy"], help="which input wins when two give one row")
    parser.add_argument(
        "--allow-leakage", action="store_true", default=None, help="build although train/test share images"
    )
    parser.add_argument("--box-format", choices=["norm01", "grid100", "grid1000", "pixel"], help="box text format")
    parser.add_argument("--no-pad", action="store_true", default=None, help="box text relative to the unpadded image")
    parser.add_argument("--max-shard-size", type=int, metavar="MB", help="parquet shard size cap in MB (default 500)")
    parser.add_argument("--out", help="the output folder")


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """Parse repeated ``NAME=VALUE`` options.

    Raises:
        ValueError: a value without ``=``, an empty side, or a name given twice.
    """
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"{option} {value!r}: expected NAME=PATH, for example {option} ucm_captions=/data/UCM.")
        if name in pairs:
            raise ValueError(f"{option} {name} is given twice ({pairs[name]!r} and {rest!r}).")
        pairs[name] = rest
    return pairs


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(_DEFAULTS)
    if args.config is not None:
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        unknown = sorted(set(loaded) - set(_DEFAULTS))
        if unknown:
            raise ValueError(f"{args.config}: unknown option(s) {', '.join(unknown)}; known: {', '.join(_DEFAULTS)}.")
        for key in ("source", "image_root"):
            if isinstance(loaded.get(key), dict):
                loaded[key] = [f"{k}={v}" for k, v in loaded[key].items()]
        settings.update(loaded)
    for key in _DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return settings


def inputs_from_args(settings: dict[str, Any]) -> list[BuildInput]:
    """The build inputs named by the settings: synthetic images, sources and generated stores.

    ``--source generated=STORE`` reads the job store of ``rsgpt4v generate`` (detail and conversation rows).
    """
    inputs: list[BuildInput] = []
    if settings["synthetic"]:
        from rsgpt4v.synthetic import synthetic_records

        n, size, seed = int(settings["synthetic"]), int(settings["synthetic_size"]), int(settings["seed"])
        inputs.append(
            BuildInput(
                "synthetic",
                lambda: synthetic_records(n, size=size, seed=seed),
                options={"n_images": n, "size": size, "seed": seed},
            )
        )
    sources = parse_pairs(list(settings["source"]), "--source")
    image_roots = parse_pairs(list(settings["image_root"]), "--image-root")
    store = sources.pop("generated", None)
    if store is not None:
        from rsgpt4v.generate import records_from_store

        inputs.append(
            BuildInput("generated", lambda: records_from_store(store), files=[Path(store)], options={"store": store})
        )
    if sources:
        from rsgpt4v.sources import build_inputs

        inputs.extend(build_inputs(sources, image_roots))
    elif image_roots:
        raise ValueError("--image-root is only used with --source (RSIVQA's parent datasets).")
    if not inputs:
        raise ValueError("Nothing to build: give --synthetic N and/or --source NAME=PATH.")
    return inputs


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v build``."""
    from rsgpt4v.validate import stats_table

    settings = _settings(args)
    if not settings["out"]:
        raise ValueError("--out is required: the folder to write the build to.")
    options = BuildOptions(
        adaption=AdaptionOptions(box_format=settings["box_format"], pad_to_square=not settings["no_pad"]),
        max_shard_bytes=int(settings["max_shard_size"]) * 1_000_000,
        prefer=settings["prefer"],
        allow_leakage=bool(settings["allow_leakage"]),
        workers=int(settings["workers"]),
        progress=getattr(args, "progress", True),
    )
    report = build(inputs_from_args(settings), settings["out"], options)
    print(stats_table(settings["out"]))
    rejected = sum(e["rejected"] for e in report["counts"])
    print(f"\nWrote {settings['out']} ({rejected} items rejected; reasons in build_report.json).")
    return 0
