"""From the records of one image and task to one row of that task's config (conversations included).

Box text inside ``conversations`` is produced here by ``rsgpt4v.boxes`` from the typed ``bbox``, never the other
way round; instructions come from ``rsgpt4v.prompts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rsgpt4v import boxes, prompts
from rsgpt4v.schema import Record

__all__ = ["GENERATED_SUFFIX", "AdaptionOptions", "make_row", "record_row_id", "row_id"]

IMAGE_TOKEN = "<image>"
#: Rows of generated records (origin ``generated:<model>``) end in this, so they never collide with released rows.
GENERATED_SUFFIX = "/gen"


@dataclass(frozen=True)
class AdaptionOptions:
    """How typed items become instruction text.

    Attributes:
        box_format: the box text written into conversations (``norm01``, ``grid100``, ``grid1000``, ``pixel``).
        pad_to_square: box text relative to the image padded to a square (LLaVA-1.5) or to the raw image.
    """

    box_format: str = "norm01"
    pad_to_square: bool = True


def row_id(source: str, split: str, image_path: str, task: str) -> str:
    """The stable row id: ``<source>/<split>/<image_path>/<task>``."""
    return f"{source}/{split}/{image_path}/{task}"


def record_row_id(record: Record) -> str:
    """The id of the row a record belongs to; generated records get ``GENERATED_SUFFIX``."""
    rid = row_id(record.source, record.split, record.image_path, record.task)
    return rid + GENERATED_SUFFIX if record.origin.startswith("generated:") else rid


def _box_text(bbox: Sequence[float], width: int, height: int, opts: AdaptionOptions) -> str:
    return boxes.encode(list(bbox), opts.box_format, width=width, height=height, pad_to_square=opts.pad_to_square)


def _turns(pairs: list[tuple[str, str | None]]) -> list[dict[str, str]]:
    """LLaVA turns: the first human turn starts with ``<image>`` and a newline; a ``None`` answer adds no gpt turn."""
    out: list[dict[str, str]] = []
    for k, (human, gpt) in enumerate(pairs):
        out.append({"from": "human", "value": f"{IMAGE_TOKEN}\n{human}" if k == 0 else human})
        if gpt is not None:
            out.append({"from": "gpt", "value": gpt})
    return out


def make_row(
    records: list[Record], image: dict[str, Any], width: int, height: int, opts: AdaptionOptions
) -> tuple[dict[str, Any], list[str]]:
    """Build one row from the records of one (task, source, split, image).

    Args:
        records: the row's records in input order (all with the same ``record_row_id``).
        image: the ``{"bytes": ..., "path": ...}`` value of the ``image`` column.
        width: image width in pixels.
        height: image height in pixels.
        opts: adaption options.

    Returns:
        The row (column -> value, ClassLabel columns as names) and the item question ids in order.
    """
    first = records[0]
    rid = record_row_id(first)
    qids = [r.question_id or f"{rid}#{k}" for k, r in enumerate(records)]
    row: dict[str, Any] = {
        "id": rid,
        "image": image,
        "image_path": first.image_path,
        "width": width,
        "height": height,
        "source": first.source,
        "origin": first.origin,
        "task": first.task,
    }
    task = first.task
    if task == "caption":
        refs = [ref for r in records for ref in r.references]
        row.update(question_id=qids[0], references=refs)
        pairs: list[tuple[str, str | None]] = [(prompts.instruction("caption"), refs[0])]
    elif task == "vqa":
        row["qa"] = [
            {"question_id": q, "question": r.question, "answer": r.answer, "question_type": r.question_type}
            for q, r in zip(qids, records)
        ]
        answered = [r for r in records if r.answer is not None] or records
        pairs = [(prompts.instruction("vqa", question=r.question), r.answer) for r in answered]
    elif task == "grounding":
        row["objects"] = [
            {"question_id": q, "expression": r.text, "category": r.category or "", "bbox": list(r.bbox or ())}
            for q, r in zip(qids, records)
        ]
        pairs = [
            (prompts.instruction("grounding", expression=r.text), _box_text(r.bbox, width, height, opts))
            for r in records
        ]
    elif task == "region_caption":
        row["objects"] = [
            {"question_id": q, "description": r.text, "category": r.category or "", "bbox": list(r.bbox or ())}
            for q, r in zip(qids, records)
        ]
        pairs = [
            (prompts.instruction("region_caption", box=_box_text(r.bbox, width, height, opts)), r.text)
            for r in records
        ]
    elif task == "detail":
        if len(records) != 1:
            raise ValueError(f"row {rid!r}: a detail row takes one record per image, got {len(records)}.")
        row.update(
            question_id=qids[0],
            description=first.text,
            objects=[
                {"category": o["category"], "bbox": list(o["bbox"]), "description": o["description"]}
                for o in first.objects
            ],
        )
        pairs = [(prompts.instruction("detail"), first.text)]
    elif task == "conversation":
        row["turn_question_ids"] = qids
        pairs = [(prompts.instruction("conversation", question=r.question), r.answer) for r in records]
    else:
        raise ValueError(f"row {rid!r}: unknown task {task!r}.")
    row["conversations"] = _turns(pairs)
    return row, qids
