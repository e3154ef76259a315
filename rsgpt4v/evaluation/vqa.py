"""VQA accuracy: exact match after one published normalisation, per question type and overall.

Normalisation (``normalize_answer``), applied to predictions and ground truth alike, in this order:

1. Unicode NFKC, lower case, surrounding whitespace removed, inner whitespace runs collapsed to one space.
2. Surrounding quotes and final punctuation (``. , ; : ! ?``) removed; thousands separators removed from numbers
   (``1,000`` -> ``1000``).
3. A whole answer that is a number word becomes digits: ``zero``..``twenty``, ``thirty``..``ninety``,
   ``hundred``/``one hundred``, ``thousand``/``one thousand``; ``none`` is *not* mapped to ``0``.
4. ``yes``/``no`` variants: ``yeah``, ``yep``, ``yup`` -> ``yes``; ``nope``, ``nah`` -> ``no``; an answer that
   starts with ``yes,`` or ``no,`` (``"Yes, there is."``) is reduced to ``yes``/``no``. Nothing else is mapped
   (``true``/``false``, ``correct`` stay as they are).

Articles are kept and no fuzzy or substring matching is done. RSVQA-HR ``area`` answers (``"10632m2"``) are
compared as the buckets of the official RSVQA evaluation (``area_bucket``): ``0m2``, ``between 0m2 and 10m2``,
``between 10m2 and 100m2``, ``between 100m2 and 1000m2``, ``more than 1000m2`` (upper bounds inclusive). Counts
are compared exactly (RSVQA-HR does not bin them).

Items whose answer is ``None`` (no public answer) are not scored and are counted in ``no_public_answer``; items
without a prediction are scored wrong and listed in ``missing``; predictions for unknown question_ids and
duplicate question_ids in the items are errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rsgpt4v.schema import QUESTION_TYPES

__all__ = ["AREA_BUCKETS", "VqaReport", "area_bucket", "normalize_answer", "vqa_scores"]

AREA_BUCKETS: tuple[str, ...] = (
    "0m2",
    "between 0m2 and 10m2",
    "between 10m2 and 100m2",
    "between 100m2 and 1000m2",
    "more than 1000m2",
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update(
    {w: str(10 * i) for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)}
)
_NUMBER_WORDS.update({"hundred": "100", "one hundred": "100", "thousand": "1000", "one thousand": "1000"})
_YES_NO = {"yeah": "yes", "yep": "yes", "yup": "yes", "nope": "no", "nah": "no"}
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_LEADING_YES_NO = re.compile(r"^(yes|no),")
_AREA = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:m2|m\^2|m²|sq\.? ?m|square met(?:er|re)s?)$")


def normalize_answer(text: str) -> str:
    """Normalise a VQA answer as described in the module docstring.

    Args:
        text: a predicted or ground-truth answer.
    """
    text = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    text = text.strip(_QUOTES + " ").rstrip(".,;:!? ").strip(_QUOTES + " ")
    text = _THOUSANDS.sub("", text)
    leading = _LEADING_YES_NO.match(text)
    if leading:
        return leading.group(1)
    return _YES_NO.get(text) or _NUMBER_WORDS.get(text) or text


def area_bucket(answer: str) -> str:
    """The RSVQA evaluation bucket of an area answer; bucket labels and unreadable answers come back normalised.

    Args:
        answer: e.g. ``"10632m2"``, ``"0m2"``, ``"between 10m2 and 100m2"``.
    """
    text = normalize_answer(answer)
    match = _AREA.match(text)
    if not match:
        return text
    value = float(match.group(1))
    if value == 0:
        return AREA_BUCKETS[0]
    for bound, label in zip((10, 100, 1000), AREA_BUCKETS[1:4]):
        if value <= bound:
            return label
    return AREA_BUCKETS[4]


@dataclass
class VqaReport:
    """VQA accuracy with its accounting.

    Attributes:
        overall: correct / scored over all question types (micro average).
        overall_without_count: the same without ``count`` questions (``None`` if only count questions).
        average: the mean of the per-type accuracies (macro average).
        per_type: per question type: ``{"correct", "total", "accuracy"}``.
        scored: items scored (those with a public answer).
        no_public_answer: items not scored because their answer is ``None``.
        missing: question_ids of scored items without a prediction (counted wrong).
        normalisation: a one-line description of the normalisation used.
    """

    overall: float
    overall_without_count: float | None
    average: float
    per_type: dict[str, dict[str, float]]
    scored: int
    no_public_answer: int
    missing: list[str] = field(default_factory=list)
    normalisation: str = "nfkc+lower+whitespace+final punctuation+number words+yes/no variants; area as buckets"


def _question_type(item: Mapping, qid: str) -> str:
    value = item.get("question_type", "unknown")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(QUESTION_TYPES):
        return QUESTION_TYPES[value]
    if not isinstance(value, str) or not value:
        raise ValueError(f"item {qid!r}: field 'question_type' is {value!r}; give a question type name.")
    return value


def vqa_scores(predictions: Mapping[str, str], items: Iterable[Mapping]) -> VqaReport:
    """Score VQA predictions against items.

    Args:
        predictions: predicted answer per question_id.
        items: dicts with ``question_id``, ``answer`` (``None`` where there is no public answer) and
            ``question_type`` (a name, or a ``ClassLabel`` index into ``rsgpt4v.schema.QUESTION_TYPES``).

    Raises:
        ValueError: for duplicate question_ids in ``items``, items without a question_id, predictions for
            question_ids that are not in ``items``, and non-string predictions or answers.
    """
    seen: set[str] = set()
    tally: dict[str, list[int]] = {}
    missing: list[str] = []
    no_answer = 0
    for k, item in enumerate(items):
        if "question_id" not in item:
            raise ValueError(f"item #{k} has no 'question_id'; every VQA item needs one.")
        qid = str(item["question_id"])
        if qid in seen:
            raise ValueError(f"question_id {qid!r} occurs twice in the items; question_ids must be unique.")
        seen.add(qid)
        answer = item.get("answer")
        if answer is None:
            no_answer += 1
            continue
        if not isinstance(answer, str):
            raise ValueError(f"item {qid!r}: field 'answer' is {answer!r}; expected a string or None.")
        qtype = _question_type(item, qid)
        counts = tally.setdefault(qtype, [0, 0])
        counts[1] += 1
        if qid not in predictions:
            missing.append(qid)
            continue
        predicted = predictions[qid]
        if not isinstance(predicted, str):
            raise ValueError(f"prediction for {qid!r} is {predicted!r}; a prediction must be a string.")
        compare = area_bucket if qtype == "area" else normalize_answer
        counts[0] += compare(predicted) == compare(answer)
    unknown = [q for q in predictions if q not in seen]
    if unknown:
        raise ValueError(
            f"{len(unknown)} prediction(s) have question_ids that are not in the items, e.g. {unknown[:5]}; "
            "check that the predictions belong to this config and split."
        )
    per_type = {t: {"correct": c, "total": n, "accuracy": c / n} for t, (c, n) in sorted(tally.items())}
    total = sum(n for _, n in tally.values())
    correct = sum(c for c, _ in tally.values())
    rest = [(c, n) for t, (c, n) in tally.items() if t != "count"]
    rest_total = sum(n for _, n in rest)
    return VqaReport(
        overall=correct / total if total else 0.0,
        overall_without_count=sum(c for c, _ in rest) / rest_total if rest_total else None,
        average=sum(v["accuracy"] for v in per_type.values()) / len(per_type) if per_type else 0.0,
        per_type=per_type,
        scored=total,
        no_public_answer=no_answer,
        missing=missing,
    )
