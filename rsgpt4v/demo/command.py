"""``rsgpt4v demo``: run the Gradio demo locally (offline by default: synthetic sample and tiny model)."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v demo`` options to ``parser``."""
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default: 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--data", help="built folder or Hub dataset id (default: $RSGPT4V_DATA, else the synthetic sample)"
    )
    parser.add_argument(
        "--model", help="model folder or Hub id (default: $RSGPT4V_MODEL, else a tiny untrained demo model)"
    )
    parser.add_argument("--adapter", help="PEFT adapter folder or Hub id for --model (default: $RSGPT4V_ADAPTER)")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="Ask requests answered at once; the rest queue (default: 1)"
    )


def run(args: argparse.Namespace) -> int:
    """Build the demo and serve it until interrupted."""
    from rsgpt4v.demo.app import build_demo

    if args.concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {args.concurrency}.")
    demo = build_demo(args.data, args.model, args.adapter, concurrency_limit=args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port)
    return 0
