"""``rsgpt4v tiny-model``: write a tiny random LLaVA with its processor, offline, for tests, benchmarks and demos."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v tiny-model`` options to ``parser``."""
    parser.add_argument("--out", required=True, type=Path, help="folder to write the model and processor to")
    parser.add_argument("--image-size", type=int, default=32, help="input image side in pixels (default: 32)")
    parser.add_argument(
        "--patch-size", type=int, help="ViT patch size (default: image size / 4, i.e. 16 image tokens per image)"
    )
    parser.add_argument("--hidden-size", type=int, default=32, help="width of both towers (default: 32)")
    parser.add_argument("--layers", type=int, default=2, help="layers of both towers (default: 2)")
    parser.add_argument(
        "--initializer-range",
        type=float,
        default=0.02,
        help="std of the language model's random weights (default: 0.02, Llama's; 0.4 learns faster from scratch)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default: 0)")


def run(args: argparse.Namespace) -> int:
    """Write the tiny model; prints where and how to load it."""
    from rsgpt4v.tiny_model import save_tiny_model

    out = save_tiny_model(
        args.out,
        image_size=args.image_size,
        patch_size=args.patch_size,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        initializer_range=args.initializer_range,
        seed=args.seed,
    )
    print(f"{out}: tiny random LLaVA ({args.image_size} px); load it with rsgpt4v predict --model {out}")
    return 0
