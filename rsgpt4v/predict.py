"""``rsgpt4v predict``: run a model over the items of a config and split, writing predictions JSON lines.

Every item of the config (``rsgpt4v.data.items``: a caption or detail image, a question, an expression, a region,
a conversation turn) gets one line keyed by its ``question_id`` (see :mod:`rsgpt4v.predictions`). A conversation
turn is asked without the earlier turns by default, as the released test split does; ``conversation_history``
replays the gold earlier turns instead, and the settings of every line record which.

The output is resumable: a rerun skips the question_ids already in the file (a truncated last line, left by an
interrupted run, is dropped), and refuses to mix lines written with another model, adapter or settings. Under
``accelerate launch`` (or ``torchrun``) the items are dealt out over the processes, each writes
``<out>.part-<rank>-of-<world>``, and the main process merges the parts into ``<out>``.
"""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v.data import DEFAULT_PATH
from rsgpt4v.predictions import iter_lines, llava_answer
from rsgpt4v.schema import TASKS

if TYPE_CHECKING:
    from rsgpt4v.inference import Predictor

__all__ = ["PredictSummary", "add_arguments", "llava_path", "predict", "run"]

_DTYPES = ("auto", "float32", "bfloat16", "float16")
_CHECKED = ("model_id", "adapter_id", "settings")


@dataclass(frozen=True)
class PredictSummary:
    """What a ``predict`` call did.

    Attributes:
        out: the predictions file.
        items: items of the config and split (after ``limit``).
        skipped: items already in ``out`` (resumed).
        written: lines written by this call (all processes).
        llava: the LLaVA answers file, when written.
    """

    out: Path
    items: int
    skipped: int
    written: int
    llava: Path | None = None


def llava_path(out: str | Path) -> Path:
    """Where ``--format llava`` writes LLaVA's answers file: ``preds.jsonl`` -> ``preds.llava.jsonl``."""
    out = Path(out)
    stem = out.name.removesuffix(".jsonl")
    return out.with_name(f"{stem}.llava.jsonl")


def _parts(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{out.name}.part-*-of-*"))


def _repair_tail(path: Path) -> None:
    """Cut an unterminated, malformed last line (left by an interrupted writer) so appends start on a new line."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    head, _, tail = data.rpartition(b"\n")
    try:
        json.loads(tail)
        path.write_bytes(data + b"\n")
    except (json.JSONDecodeError, UnicodeDecodeError):
        path.write_bytes(head + b"\n" if head else b"")


def _done(path: Path, expected: dict[str, Any]) -> set[str]:
    """question_ids already in ``path``; every line must come from the same model, adapter and settings."""
    done: set[str] = set()
    if not path.is_file():
        return done
    for lineno, obj in iter_lines(path, truncated_tail="drop"):
        for key in _CHECKED:
            if obj.get(key) != expected[key]:
                raise ValueError(
                    f"{path}, line {lineno}: written with {key}={obj.get(key)!r}, but this run has "
                    f"{key}={expected[key]!r}. Write to another --out, or delete the file to start over."
                )
        done.add(str(obj["question_id"]))
    return done


def _merge(out: Path, parts: list[Path]) -> None:
    """Append the lines of ``parts`` whose question_id is not yet in ``out``, then delete the parts."""
    _repair_tail(out)
    seen = {str(obj["question_id"]) for _, obj in iter_lines(out, truncated_tail="drop")} if out.is_file() else set()
    with open(out, "a", encoding="utf-8") as f:
        for part in parts:
            for _, obj in iter_lines(part, truncated_tail="drop"):
                if str(obj["question_id"]) not in seen:
                    seen.add(str(obj["question_id"]))
                    f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    for part in parts:
        part.unlink()


def _open_image(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if image.get("bytes") is not None:
        return Image.open(io.BytesIO(image["bytes"]))
    return Image.open(image["path"])


def _undecoded(data: str | Path, config: str, split: str) -> Any:
    """The config and split with the images as stored (bytes), decoded only when predicted."""
    import datasets

    from rsgpt4v.data import load

    return load(config, split, path=data).cast_column("image", datasets.Image(decode=False))


def _history(item: dict[str, Any], use: bool) -> list[tuple[str, str]]:
    if not use or not item.get("history"):
        return []
    for k, (question, answer) in enumerate(item["history"]):
        if answer is None:
            raise ValueError(
                f"item {item['question_id']} (row {item['id']}): earlier turn {k} ({question!r}) has no gold answer, "
                "so --conversation-history cannot replay it; predict without --conversation-history."
            )
    return [tuple(pair) for pair in item["history"]]


def predict(
    predictor: Predictor,
    data: str | Path,
    config: str,
    split: str,
    out: str | Path,
    *,
    limit: int | None = None,
    conversation_history: bool = False,
    llava_format: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """Predict every item of ``config``/``split`` of a build and write (or complete) the predictions file.

    Args:
        predictor: the model to run (see :class:`rsgpt4v.inference.Predictor`).
        data: a built folder or a Hub dataset id.
        config: a task config (``caption``, ``vqa``, ``grounding``, ``region_caption``, ``detail``,
            ``conversation``).
        split: the split to predict.
        out: the predictions JSON-lines file (created, or resumed when it exists).
        limit: predict only the first ``limit`` items of the split.
        conversation_history: give conversation turns their gold earlier turns (default: each turn alone).
        llava_format: also write LLaVA's answers file (:func:`llava_path`).
        progress: show a progress bar (on the main process).

    Returns:
        A :class:`PredictSummary`.

    Raises:
        ValueError: ``config`` is not a task config, ``limit`` is negative, or ``out`` holds lines written with
            another model, adapter or settings.
        PredictionFormatError: ``out`` has a malformed line other than a truncated last one.
    """
    from tqdm.auto import tqdm

    from rsgpt4v.data import items

    if config not in TASKS:
        raise ValueError(f"predict takes a task config ({', '.join(TASKS)}), not {config!r}.")
    if limit is not None and limit < 0:
        raise ValueError(f"--limit must be >= 0, got {limit}.")
    state = _state(predictor.device.type == "cpu")
    out = Path(out)
    settings = {**predictor.settings, "conversation_history": conversation_history}
    expected = {"model_id": predictor.model_id, "adapter_id": predictor.adapter_id, "settings": settings}
    if state.is_main_process:
        out.parent.mkdir(parents=True, exist_ok=True)
        _merge(out, _parts(out))
    state.wait_for_everyone()
    done = _done(out, expected)
    ds = _undecoded(data, config, split)
    order = [item["question_id"] for item in items(ds)]
    if limit is not None:
        order = order[:limit]
    pending = [qid for qid in order if qid not in done]
    mine = set(pending[state.process_index :: state.num_processes])
    target = (
        out
        if state.num_processes == 1
        else out.with_name(f"{out.name}.part-{state.process_index}-of-{state.num_processes}")
    )
    written = 0
    bar = tqdm(
        total=len(mine),
        desc=f"predict {config}/{split}",
        unit="item",
        disable=not (progress and state.is_main_process),
    )
    with open(target, "a", encoding="utf-8") as f:
        batch: list[dict[str, Any]] = []
        for item in items(ds):
            if item["question_id"] not in mine:
                continue
            batch.append(item)
            if len(batch) == predictor.batch_size:
                written += _write_batch(predictor, batch, f, expected, config, conversation_history)
                bar.update(len(batch))
                batch = []
        if batch:
            written += _write_batch(predictor, batch, f, expected, config, conversation_history)
            bar.update(len(batch))
    bar.close()
    written = _total(state, written)
    state.wait_for_everyone()
    llava = None
    if state.is_main_process:
        if state.num_processes > 1:
            _merge(out, _parts(out))
        if llava_format:
            llava = llava_path(out)
            with open(llava, "w", encoding="utf-8") as f:
                for _, obj in iter_lines(out):
                    f.write(json.dumps(llava_answer(obj), ensure_ascii=False) + "\n")
    state.wait_for_everyone()
    return PredictSummary(out, len(order), len(order) - len(pending), written, llava)


def _state(cpu: bool) -> Any:
    """The process group (one process unless launched by ``accelerate launch`` or ``torchrun``); gloo on CPU."""
    from accelerate import PartialState

    return PartialState(cpu=cpu)


def _total(state: Any, count: int) -> int:
    if state.num_processes == 1:
        return count
    import torch
    from accelerate.utils import reduce

    return int(reduce(torch.tensor([count], device=state.device), reduction="sum").item())


def _write_batch(
    predictor: Predictor,
    batch: list[dict[str, Any]],
    f: Any,
    expected: dict[str, Any],
    config: str,
    conversation_history: bool,
) -> int:
    from rsgpt4v.inference import messages

    pairs = [
        (_open_image(item["image"]), messages(item["prompt"], _history(item, conversation_history))) for item in batch
    ]
    texts = predictor.generate(pairs, tasks=[item["task"] for item in batch])
    for item, text in zip(batch, texts):
        record = {
            "question_id": item["question_id"],
            "id": item["id"],
            "config": config,
            "split": item["split"],
            "task": item["task"],
            "source": item["source"],
            "prompt": item["prompt"],
            "text": text,
            **expected,
        }
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    f.flush()
    return len(batch)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``rsgpt4v predict`` options to ``parser``."""
    parser.add_argument("--model", required=True, help="model folder or Hub id (LLaVA architecture)")
    parser.add_argument("--adapter", help="PEFT adapter folder (LoRA or MoE-LoRA) to load onto --model")
    parser.add_argument(
        "--data", default=DEFAULT_PATH, help=f"built folder or Hub dataset id (default: {DEFAULT_PATH})"
    )
    parser.add_argument("--config", required=True, choices=TASKS, help="task config to predict")
    parser.add_argument("--split", default="test", help="split to predict (default: test)")
    parser.add_argument("--out", required=True, type=Path, help="predictions JSON-lines file (resumed if it exists)")
    parser.add_argument("--batch-size", type=int, default=8, help="items per forward pass (default: 8)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="generation length limit (default: 256)")
    parser.add_argument("--limit", type=int, help="predict only the first N items of the split")
    parser.add_argument(
        "--conversation-history",
        action="store_true",
        help="give conversation turns their gold earlier turns (default: each turn asked alone)",
    )
    parser.add_argument(
        "--format",
        choices=("jsonl", "llava"),
        default="jsonl",
        help="'llava' also writes LLaVA's answers file <out stem>.llava.jsonl",
    )
    parser.add_argument(
        "--image-aspect",
        choices=("pad", "resize", "processor"),
        default="pad",
        help="pad to a square of the processor's mean colour (LLaVA-1.5, default), resize, or the processor's own",
    )
    parser.add_argument("--dtype", choices=_DTYPES, default="auto", help="model dtype (default: the checkpoint's)")
    parser.add_argument("--device", help="device, e.g. cpu or cuda:0 (default: the process's accelerator)")


def run(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v predict`` with parsed arguments; prints a one-line summary."""
    import torch

    from rsgpt4v.inference import Predictor

    dtype = None if args.dtype == "auto" else getattr(torch, args.dtype)
    state = _state(args.device == "cpu" or not torch.cuda.is_available())
    predictor = Predictor(
        args.model,
        args.adapter,
        device=args.device or state.device,
        dtype=dtype,
        image_aspect=args.image_aspect,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )
    summary = predict(
        predictor,
        args.data,
        args.config,
        args.split,
        args.out,
        limit=args.limit,
        conversation_history=args.conversation_history,
        llava_format=args.format == "llava",
        progress=getattr(args, "progress", True),
    )
    if state.is_main_process:
        extra = f"; LLaVA answers: {summary.llava}" if summary.llava else ""
        print(
            f"{summary.out}: {summary.written} predicted, {summary.skipped} already there, "
            f"{summary.items} items{extra}"
        )
    return 0
