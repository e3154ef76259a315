"""Generate hierarchical descriptions and reasoning conversations with any OpenAI-compatible VLM endpoint.

Usage: ``rsgpt4v generate (--images DIR | --source NAME=PATH) --endpoint URL --model NAME --out STORE``.
The endpoint is any OpenAI-compatible server (``--endpoint`` or ``$OPENAI_BASE_URL``); the key comes from
``$RSGPT4V_API_KEY``, else ``$OPENAI_API_KEY`` (or the variable named by ``--api-key-env``) and is never printed or
stored. Re-running with the same ``--out`` resumes: finished stages are not requested again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rsgpt4v.generate.client import ClientConfig, resolve_base_url
from rsgpt4v.generate.inputs import items_from_folder, items_from_records
from rsgpt4v.generate.pipeline import GenerationConfig, dry_run, generate, summary_text
from rsgpt4v.generate.store import ImageItem, Prices
from rsgpt4v.generate.templates import DEFAULT_QUESTION_TYPES, TEMPLATES

__all__ = ["add_arguments", "config_from_args", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate`` options to a parser."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--images", metavar="DIR", help="a folder of your own images (source 'custom')")
    what.add_argument("--source", metavar="NAME=PATH", help="a source dataset whose annotations go into the prompts")
    parser.add_argument("--out", required=True, metavar="STORE", help="the SQLite job store (created or resumed)")
    parser.add_argument("--model", required=True, help="the model name the endpoint serves")
    parser.add_argument(
        "--endpoint", metavar="URL", help="API base URL, e.g. http://localhost:8000/v1 (default $OPENAI_BASE_URL)"
    )
    parser.add_argument("--api-key-env", metavar="VAR", help="read the API key from this environment variable instead")
    parser.add_argument(
        "--split",
        default="train",
        help="split of the generated rows; with --source, the source split whose images are used (default train)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument("--rpm", type=float, help="requests per minute limit")
    parser.add_argument("--tpm", type=float, help="tokens per minute limit")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request attempt (default 120)")
    parser.add_argument("--max-retries", type=int, default=5, help="retries on 429/5xx/timeouts (default 5)")
    parser.add_argument("--turns", type=int, default=6, help="conversation turns per image (default 6)")
    parser.add_argument(
        "--question-types",
        metavar="NAMES",
        help=f"comma-separated conversation question types (default: {','.join(DEFAULT_QUESTION_TYPES)}); "
        "a new type is written NAME=WHAT IT ASKS",
    )
    parser.add_argument(
        "--box-format", choices=["norm01", "grid100", "grid1000", "pixel"], default="norm01", help="box text format"
    )
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help=f"override a prompt template with a file (names: {', '.join(TEMPLATES)}; repeatable)",
    )
    parser.add_argument("--max-tokens", type=int, default=2048, help="completion budget per request (default 2048)")
    parser.add_argument("--temperature", type=float, default=0.2, help="sampling temperature (default 0.2)")
    parser.add_argument(
        "--response-format",
        choices=["json_schema", "json_object", "none"],
        default="json_schema",
        help="how JSON is requested (default json_schema; use json_object or none for servers without it)",
    )
    parser.add_argument("--min-words", type=int, default=30, help="fewest words of a global description")
    parser.add_argument("--image-detail", choices=["low", "high", "auto"], help="image detail sent with each image")
    parser.add_argument("--price-input", type=float, default=0.0, help="USD per million prompt tokens (for cost)")
    parser.add_argument("--price-output", type=float, default=0.0, help="USD per million completion tokens")
    parser.add_argument("--retry-failed", action="store_true", help="run stages that failed before again")
    parser.add_argument("--dry-run", action="store_true", help="print the prompts and send nothing")


def _question_types(spec: str | None) -> dict[str, str]:
    if not spec:
        return dict(DEFAULT_QUESTION_TYPES)
    kinds = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, what = part.partition("=")
        if sep:
            kinds[name.strip()] = what.strip()
        elif name in DEFAULT_QUESTION_TYPES:
            kinds[name] = DEFAULT_QUESTION_TYPES[name]
        else:
            raise ValueError(
                f"--question-types: {name!r} is not a built-in type ({', '.join(DEFAULT_QUESTION_TYPES)}); "
                f"describe a new one as {name}=WHAT IT ASKS."
            )
    return kinds


def config_from_args(args: argparse.Namespace) -> GenerationConfig:
    """The ``GenerationConfig`` the options describe (template files are read here).

    Raises:
        ValueError: for a malformed ``--template`` or ``--question-types``.
        FileNotFoundError: for a missing template file.
    """
    overrides = {}
    for spec in args.template:
        name, sep, file = spec.partition("=")
        if not sep or not file:
            raise ValueError(f"--template {spec!r}: expected NAME=FILE, e.g. --template local=my_local.txt.")
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"--template {spec!r}: no file {file!r}.")
        overrides[name] = path.read_text(encoding="utf-8")
    return GenerationConfig(
        turns=args.turns,
        question_types=_question_types(args.question_types),
        box_format=args.box_format,
        templates=overrides,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        response_format=args.response_format,
        min_words=args.min_words,
        image_detail=args.image_detail,
        retry_failed=args.retry_failed,
    )


def _items(args: argparse.Namespace) -> list[ImageItem]:
    if args.images:
        items = items_from_folder(args.images, split=args.split)
    else:
        name, sep, path = args.source.partition("=")
        if not sep or not path:
            raise ValueError(f"--source {args.source!r}: expected NAME=PATH, e.g. --source dior_rsvg=/data/DIOR-RSVG.")
        from rsgpt4v.sources import get_source

        adapter = get_source(name)
        adapter.check(path, args.split)
        items = items_from_records(adapter.items(path, args.split), split=args.split)
        if not items:
            raise ValueError(f"--source {args.source!r}: no images in split {args.split!r}; pick another --split.")
    return items[: args.limit] if args.limit is not None else items


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v generate``; exit status 0 when every stage in the store is done, 1 otherwise."""
    config = config_from_args(args)
    items = _items(args)
    if args.dry_run:
        for image_id, stage, prompt in dry_run(items, config):
            print(f"===== {image_id} [{stage}] =====\n{prompt}\n")
        print(f"dry run: {len(items)} images, {len(items) * 3} requests would be sent to model {args.model!r}.")
        return 0
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise ValueError(f"--api-key-env {args.api_key_env}: that environment variable is not set.")
    client = ClientConfig(
        base_url=resolve_base_url(args.endpoint),
        model=args.model,
        api_key=api_key,
        concurrency=args.concurrency,
        timeout=args.timeout,
        max_retries=args.max_retries,
        rpm=args.rpm,
        tpm=args.tpm,
    )
    _, summary = generate(
        items,
        args.out,
        client,
        config,
        prices=Prices(args.price_input, args.price_output),
        progress=getattr(args, "progress", True),
    )
    print(summary_text(summary))
    return 0 if summary.failed == 0 and summary.pending == 0 else 1
