"""Loading built configs, the one-row-per-item view, and conversions to LLaVA JSON and TRL messages.

``load`` wraps ``datasets.load_dataset`` on a built folder or a Hub repository: a row holds one image and all of a
task's items for it. ``items`` turns rows into items (a caption image, a question, an expression, a region, a
detail image, a conversation turn), each with its ``question_id``: the unit that prediction, evaluation, training
and the demo work on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v import prompts
from rsgpt4v.rows import IMAGE_TOKEN
from rsgpt4v.schema import CONFIGS, SOURCES, TASKS

if TYPE_CHECKING:
    import datasets

__all__ = ["DEFAULT_PATH", "is_hub_id", "items", "load", "resolve_path", "to_llava_json", "to_trl"]

#: Where ``rsgpt4v build`` and ``rsgpt4v quickstart`` write by default.
DEFAULT_PATH = "rsgpt4v-data"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(name: str) -> bool:
    """Whether ``name`` has the form of a Hub repository id, ``owner/name``."""
    return bool(_HUB_ID.match(name))


def resolve_path(path: str | Path) -> str:
    """Return what to hand to ``datasets.load_dataset``: an absolute folder path or a Hub id ``owner/name``.

    Raises:
        FileNotFoundError: ``path`` is neither an existing folder nor of the form ``owner/name``.
    """
    local = Path(path).expanduser()
    if local.is_dir():
        return str(local.absolute())
    if is_hub_id(str(path)):
        return str(path)
    raise FileNotFoundError(
        f"{path!s} is not a folder and not a Hub id of the form owner/name. Build a folder with "
        f"`rsgpt4v quickstart` or `rsgpt4v build --out {path}`, or give the dataset's Hub id."
    )


def load(
    config: str,
    split: str | None = None,
    path: str | Path = DEFAULT_PATH,
    sources: Sequence[str] | None = None,
    streaming: bool = False,
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset | datasets.IterableDatasetDict:
    """Load one config of a build (a folder or a Hub repository).

    Args:
        config: ``caption``, ``vqa``, ``grounding``, ``region_caption``, ``detail``, ``conversation`` or
            ``instruct``.
        split: a split name, or ``None`` for all splits (a ``DatasetDict``).
        path: a built folder or a Hub dataset id (``owner/name``); never the bare name ``rsgpt4v``.
        sources: keep only rows of these sources (names from ``rsgpt4v.schema.SOURCES``).
        streaming: return an ``IterableDataset`` that reads the parquet files lazily.

    Raises:
        ValueError: unknown config, split or source name (the message lists the valid ones).
        FileNotFoundError: ``path`` is neither a folder nor a Hub id.
    """
    import datasets

    if config not in CONFIGS:
        raise ValueError(f"Unknown config {config!r}; expected one of {', '.join(CONFIGS)}.")
    unknown = sorted(set(sources or ()) - set(SOURCES))
    if unknown:
        raise ValueError(f"Unknown source(s) {', '.join(unknown)}; expected names from {', '.join(SOURCES)}.")
    target = resolve_path(path)
    available = datasets.get_dataset_config_names(target)
    if config not in available:
        raise ValueError(f"{path!s} has no config {config!r}; it has {', '.join(available)}.")
    try:
        ds = datasets.load_dataset(target, config, split=split, streaming=streaming)
    except ValueError as exc:
        if split is not None and "split" in str(exc).lower():
            splits = datasets.get_dataset_split_names(target, config)
            raise ValueError(
                f"{path!s}, config {config!r} has no split {split!r}; it has {', '.join(splits)}."
            ) from exc
        raise
    if sources:
        wanted = {SOURCES.index(s) for s in sources}
        ds = ds.filter(lambda s: s in wanted, input_columns="source")
    return ds


def _names(ds: Any) -> tuple[Any, Any]:
    feats = ds.features
    return feats["task"].int2str, feats["source"].int2str


def items(ds: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yield the items of a task config's rows, one dict per item, in row order.

    Every item has ``question_id``, ``id`` (the row id), ``split``, ``task``, ``source``, ``origin``, ``image``,
    ``image_path``, ``width``, ``height``, ``prompt`` (the instruction without the image token) and ``answer``
    (``None`` where the source publishes none). Per task it adds: ``references`` (caption: every reference);
    ``question_type`` (vqa); ``bbox`` and ``category`` (grounding, region_caption); ``objects`` (detail);
    ``history`` (conversation: the earlier turns as ``(question, answer)`` pairs) and ``turn`` (its index).

    Args:
        ds: a ``Dataset`` or ``IterableDataset`` of a task config (not ``instruct``).

    Raises:
        ValueError: for ``instruct`` rows, whose items are the task configs' items.
    """
    task_name, source_name = _names(ds)
    for row in ds:
        task = task_name(row["task"]) if isinstance(row["task"], int) else row["task"]
        source = source_name(row["source"]) if isinstance(row["source"], int) else row["source"]
        if task not in TASKS:
            raise ValueError(f"row {row.get('id')!r}: unknown task {task!r}.")
        if "qa" not in row and "references" not in row and "objects" not in row and "turn_question_ids" not in row:
            raise ValueError("items() takes a task config (caption, vqa, ...); instruct rows hold no typed items.")
        base = {
            "id": row["id"],
            "split": row["id"].split("/", 2)[1],
            "task": task,
            "source": source,
            "origin": row["origin"],
            "image": row["image"],
            "image_path": row["image_path"],
            "width": row["width"],
            "height": row["height"],
        }
        yield from _row_items(task, row, base, ds)


def _row_items(task: str, row: dict[str, Any], base: dict[str, Any], ds: Any) -> Iterator[dict[str, Any]]:
    if task == "caption":
        refs = list(row["references"])
        yield {
            **base,
            "question_id": row["question_id"],
            "prompt": prompts.instruction("caption"),
            "answer": refs[0],
            "references": refs,
        }
    elif task == "vqa":
        qtype = ds.features["qa"].feature["question_type"].int2str
        for qa in row["qa"]:
            t = qa["question_type"]
            yield {
                **base,
                "question_id": qa["question_id"],
                "prompt": prompts.instruction("vqa", question=qa["question"]),
                "question": qa["question"],
                "answer": qa["answer"],
                "question_type": qtype(t) if isinstance(t, int) else t,
            }
    elif task in ("grounding", "region_caption"):
        turns = _pairs(row["conversations"])
        for obj, (human, gpt) in zip(row["objects"], turns):
            yield {
                **base,
                "question_id": obj["question_id"],
                "prompt": human,
                "answer": gpt,
                "bbox": list(obj["bbox"]),
                "category": obj["category"],
                "text": obj.get("expression", obj.get("description")),
            }
    elif task == "detail":
        yield {
            **base,
            "question_id": row["question_id"],
            "prompt": prompts.instruction("detail"),
            "answer": row["description"],
            "objects": list(row["objects"]),
        }
    else:
        turns = _pairs(row["conversations"])
        for k, (qid, (human, gpt)) in enumerate(zip(row["turn_question_ids"], turns)):
            yield {**base, "question_id": qid, "prompt": human, "answer": gpt, "turn": k, "history": turns[:k]}


def _pairs(conversations: list[dict[str, str]]) -> list[tuple[str, str | None]]:
    """(human, gpt) pairs of a LLaVA conversation, the image token removed; a trailing question has ``None``."""
    pairs: list[tuple[str, str | None]] = []
    for turn in conversations:
        if turn["from"] == "human":
            pairs.append((turn["value"].removeprefix(f"{IMAGE_TOKEN}\n"), None))
        elif pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], turn["value"])
    return pairs


def to_llava_json(ds: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as LLaVA's training JSON records (``id``, ``image`` = the release-relative path, ``conversations``).

    Rows without any answer (only human turns) are left out, as LLaVA cannot learn from them.
    """
    return [
        {"id": row["id"], "image": row["image_path"], "conversations": list(row["conversations"])}
        for row in ds
        if any(t["from"] == "gpt" for t in row["conversations"])
    ]


def to_trl(row: dict[str, Any]) -> dict[str, Any]:
    """One row in TRL's vision SFT form: ``{"messages": [...], "images": [image]}``.

    The image token becomes a ``{"type": "image"}`` content part of the first user message.
    """
    messages = []
    for turn in row["conversations"]:
        text = turn["value"]
        content: list[dict[str, Any]] = []
        if text.startswith(f"{IMAGE_TOKEN}\n"):
            content.append({"type": "image"})
            text = text[len(IMAGE_TOKEN) + 1 :]
        content.append({"type": "text", "text": text})
        messages.append({"role": "user" if turn["from"] == "human" else "assistant", "content": content})
    return {"messages": messages, "images": [row["image"]]}
