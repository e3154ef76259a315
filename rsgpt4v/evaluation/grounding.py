"""Visual grounding: Acc@IoU and mean IoU of the box read from each answer.

Protocol:

- Each answer is searched with ``rsgpt4v.boxes.find_boxes`` in the given box format (or, by default, any of
  ``norm01``, ``grid100`` and ``grid1000``) and mapped back to pixel ``xyxy`` of the original image, the padding
  to square undone (``pad_to_square``, as the boxes were written for training).
- Several boxes in one answer: the **first** valid box in text order is scored; such answers are counted in
  ``multi_box``.
- An answer without a valid box is a parse failure: IoU 0, so wrong at every threshold; failures are counted and
  the first reasons kept. A missing prediction is scored the same way and listed in ``missing``.
- IoU = intersection / union in continuous pixels (no +1); a union of zero area (degenerate boxes) gives IoU 0.
- Acc@t is the fraction of items with IoU ``>=`` t (``GroundingReport.acc_at``); mean IoU averages over all items,
  failures included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsgpt4v.boxes import BoxFormat, find_boxes

__all__ = ["DEFAULT_THRESHOLDS", "GroundingReport", "box_iou", "grounding_scores"]

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.25, 0.5, 0.7)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two pixel ``xyxy`` boxes, without the +1 convention; 0 when the union has no area.

    Args:
        a: ``[x1, y1, x2, y2]``.
        b: ``[x1, y1, x2, y2]``.
    """
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0) + max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class GroundingReport:
    """Grounding scores with their accounting.

    Attributes:
        question_ids: the scored items, in order.
        ious: IoU of each item (0 for parse failures and missing predictions).
        parse_failures: answers with no valid box.
        multi_box: answers with more than one valid box (the first one was scored).
        missing: question_ids without a prediction (scored as failures, not counted in ``parse_failures``).
        failure_examples: up to 10 ``(question_id, reason)`` pairs for parse failures.
        box_format: the formats searched.
        thresholds: the thresholds reported by ``summary``.
    """

    question_ids: list[str]
    ious: np.ndarray
    parse_failures: int
    multi_box: int
    missing: list[str] = field(default_factory=list)
    failure_examples: list[tuple[str, str]] = field(default_factory=list)
    box_format: list[str] = field(default_factory=list)
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS

    def acc_at(self, threshold: float) -> float:
        """Fraction of items whose IoU is ``>= threshold``."""
        return float(np.mean(self.ious >= threshold)) if len(self.ious) else 0.0

    @property
    def mean_iou(self) -> float:
        """Mean IoU over all items, failures included as 0."""
        return float(np.mean(self.ious)) if len(self.ious) else 0.0

    @property
    def parse_failure_rate(self) -> float:
        """Parse failures over items that had a prediction."""
        answered = len(self.ious) - len(self.missing)
        return self.parse_failures / answered if answered else 0.0

    def summary(self) -> dict[str, float]:
        """``Acc@t`` for each threshold, ``mIoU``, ``parse_failure_rate``, and the counts."""
        out = {f"Acc@{t:g}": self.acc_at(t) for t in self.thresholds}
        out.update(
            mIoU=self.mean_iou,
            parse_failure_rate=self.parse_failure_rate,
            parse_failures=self.parse_failures,
            multi_box=self.multi_box,
            missing=len(self.missing),
            items=len(self.ious),
        )
        return out


def _item_fields(item: Mapping, k: int) -> tuple[str, list[float], int, int]:
    if "question_id" not in item:
        raise ValueError(f"item #{k} has no 'question_id'; every grounding item needs one.")
    qid = str(item["question_id"])
    for name in ("bbox", "width", "height"):
        if item.get(name) is None:
            raise ValueError(f"item {qid!r} has no {name!r}; grounding items need 'bbox', 'width' and 'height'.")
    bbox = [float(v) for v in item["bbox"]]
    if len(bbox) != 4:
        raise ValueError(f"item {qid!r}: field 'bbox' is {item['bbox']!r}; expected pixel [x1, y1, x2, y2].")
    return qid, bbox, int(item["width"]), int(item["height"])


def grounding_scores(
    predictions: Mapping[str, str],
    items: Iterable[Mapping],
    box_format: str | BoxFormat | Sequence[str | BoxFormat] | None = None,
    pad_to_square: bool = True,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> GroundingReport:
    """Score grounding answers against the items' boxes.

    Args:
        predictions: answer text per question_id.
        items: dicts with ``question_id``, ``bbox`` (pixel xyxy of the original image), ``width``, ``height``.
        box_format: the box format(s) answers are written in (``pixel``, ``norm01``, ``grid100``, ``grid1000``);
            ``None`` searches ``norm01``, ``grid100`` and ``grid1000``.
        pad_to_square: the answers' coordinates are relative to the image padded to a square.
        thresholds: the IoU thresholds ``summary`` reports.

    Raises:
        ValueError: for an unknown box format, duplicate question_ids, items lacking fields, and predictions for
            question_ids that are not in ``items``.
    """
    if box_format is None:
        fmts = None
    elif isinstance(box_format, (str, BoxFormat)):
        fmts = [box_format]
    else:
        fmts = list(box_format)
    known = [f.value for f in BoxFormat]
    unknown = [f for f in fmts or [] if str(getattr(f, "value", f)) not in known]
    if unknown:
        raise ValueError(f"Unknown box format {unknown[0]!r}; use one of {', '.join(known)} (or None for any).")
    names = [BoxFormat(f).value for f in fmts] if fmts else ["norm01", "grid100", "grid1000"]
    qids: list[str] = []
    ious: list[float] = []
    failures, multi = 0, 0
    examples: list[tuple[str, str]] = []
    missing: list[str] = []
    seen: set[str] = set()
    for k, item in enumerate(items):
        qid, bbox, width, height = _item_fields(item, k)
        if qid in seen:
            raise ValueError(f"question_id {qid!r} occurs twice in the items; question_ids must be unique.")
        seen.add(qid)
        qids.append(qid)
        if qid not in predictions:
            missing.append(qid)
            ious.append(0.0)
            continue
        text = predictions[qid]
        if not isinstance(text, str):
            raise ValueError(f"prediction for {qid!r} is {text!r}; a prediction must be a string.")
        found = find_boxes(text, width, height, fmts=names, pad_to_square=pad_to_square)
        if not found.boxes:
            failures += 1
            if len(examples) < 10:
                reason = found.failures[0].reason if found.failures else f"no {'/'.join(names)} box in the answer"
                examples.append((qid, reason))
            ious.append(0.0)
            continue
        multi += len(found.boxes) > 1
        ious.append(box_iou(found.boxes[0].as_list(), bbox))
    unknown = [q for q in predictions if q not in seen]
    if unknown:
        raise ValueError(
            f"{len(unknown)} prediction(s) have question_ids that are not in the items, e.g. {unknown[:5]}; "
            "check that the predictions belong to this config and split."
        )
    return GroundingReport(
        question_ids=qids,
        ious=np.asarray(ious, dtype=np.float64),
        parse_failures=failures,
        multi_box=multi,
        missing=missing,
        failure_examples=examples,
        box_format=names,
        thresholds=tuple(thresholds),
    )
