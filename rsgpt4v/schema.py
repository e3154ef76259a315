"""The typed schema every stage reads and writes: label lists, per-config ``Features`` and ``Record``.

The label lists (``SOURCES``, ``TASKS``, ``QUESTION_TYPES``) are stored as ``ClassLabel`` names in every
published build, so they are only ever appended to: renumbering would silently relabel old builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # ``datasets`` is imported lazily so that ``import rsgpt4v`` stays light.
    import datasets

__all__ = [
    "CONFIGS",
    "QUESTION_TYPES",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "QuestionType",
    "Record",
    "Rejection",
    "SchemaError",
    "Source",
    "Task",
    "features",
]


class Source(str, Enum):
    """Where an image and its annotations come from (ClassLabel ``source``; append only)."""

    UCM_CAPTIONS = "ucm_captions"
    SYDNEY_CAPTIONS = "sydney_captions"
    RSICD = "rsicd"
    RSITMD = "rsitmd"
    NWPU_CAPTIONS = "nwpu_captions"
    RSVQA_LR = "rsvqa_lr"
    RSVQA_HR = "rsvqa_hr"
    FLOODNET = "floodnet"
    RSIVQA = "rsivqa"
    DIOR_RSVG = "dior_rsvg"
    SYNTHETIC = "synthetic"
    CUSTOM = "custom"


class Task(str, Enum):
    """The instruction task of a row (ClassLabel ``task``; append only)."""

    CAPTION = "caption"
    VQA = "vqa"
    GROUNDING = "grounding"
    REGION_CAPTION = "region_caption"
    DETAIL = "detail"
    CONVERSATION = "conversation"


class QuestionType(str, Enum):
    """VQA question types (ClassLabel ``question_type``; append only)."""

    PRESENCE = "presence"
    COMP = "comp"
    COUNT = "count"
    RURAL_URBAN = "rural_urban"
    AREA = "area"
    YES_NO = "yes_no"
    SIMPLE_COUNTING = "simple_counting"
    COMPLEX_COUNTING = "complex_counting"
    CONDITION_RECOGNITION = "condition_recognition"
    NUMBER = "number"
    OTHER = "other"
    UNKNOWN = "unknown"


SOURCES: tuple[str, ...] = tuple(s.value for s in Source)
TASKS: tuple[str, ...] = tuple(t.value for t in Task)
QUESTION_TYPES: tuple[str, ...] = tuple(q.value for q in QuestionType)
#: Every dataset config: one per task plus ``instruct`` (all tasks in LLaVA conversation form).
CONFIGS: tuple[str, ...] = (*TASKS, "instruct")
#: Split names the sources define (RSVQA-HR adds ``test_phili``).
SPLITS: tuple[str, ...] = ("train", "val", "test", "test_phili")
#: Columns shared by every config; ``instruct`` selects exactly these from the task configs' files.
_TASK_SET, _SOURCE_SET = frozenset(TASKS), frozenset(SOURCES)
_SPLIT_SET, _QUESTION_TYPE_SET = frozenset(SPLITS), frozenset(QUESTION_TYPES)
COMMON_COLUMNS: tuple[str, ...] = (
    "id",
    "image",
    "image_path",
    "width",
    "height",
    "source",
    "origin",
    "task",
    "conversations",
)


class SchemaError(ValueError):
    """A record or row does not follow the schema; the message names the record id and the field."""


def _common_features() -> dict[str, Any]:
    from datasets import ClassLabel, Image, List, Value

    return {
        "id": Value("string"),
        "image": Image(),
        "image_path": Value("string"),
        "width": Value("int32"),
        "height": Value("int32"),
        "source": ClassLabel(names=list(SOURCES)),
        "origin": Value("string"),
        "task": ClassLabel(names=list(TASKS)),
        "conversations": List({"from": Value("string"), "value": Value("string")}),
    }


def features(config: str) -> datasets.Features:
    """Return the explicit ``datasets.Features`` of a config.

    Args:
        config: one of ``CONFIGS``.

    Raises:
        ValueError: if ``config`` is not a known config name.
    """
    from datasets import ClassLabel, Features, List, Value

    if config not in CONFIGS:
        raise ValueError(f"Unknown config {config!r}; expected one of {', '.join(CONFIGS)}.")
    bbox = List(Value("float32"), length=4)
    text = Value("string")
    per_task: dict[str, dict[str, Any]] = {
        "caption": {"question_id": text, "references": List(text)},
        "vqa": {
            "qa": List(
                {
                    "question_id": text,
                    "question": text,
                    "answer": text,
                    "question_type": ClassLabel(names=list(QUESTION_TYPES)),
                }
            )
        },
        "grounding": {"objects": List({"question_id": text, "expression": text, "category": text, "bbox": bbox})},
        "region_caption": {
            "objects": List({"question_id": text, "description": text, "category": text, "bbox": bbox})
        },
        "detail": {
            "question_id": text,
            "description": text,
            "objects": List({"category": text, "bbox": bbox, "description": text}),
        },
        "conversation": {"turn_question_ids": List(text)},
        "instruct": {},
    }
    return Features({**_common_features(), **per_task[config]})


@dataclass
class Rejection:
    """An input item that was read but not accepted; counted in the build report with its reason.

    ``task`` is the task the item would have had, where the source knows it (``None`` when the whole input,
    for example an image, is unusable before its items are typed).
    """

    source: str
    split: str
    file: str
    key: str
    reason: str
    task: str | None = None


@dataclass(slots=True)
class Record:
    """One item: a caption image, a question, an expression, a region, a detail image or a conversation turn.

    Sources and generators yield records; ``rsgpt4v.build`` groups the records of one image and task into one
    row. Which payload fields are used depends on ``task``:

    - ``caption``: ``references`` (one or more captions).
    - ``vqa``: ``question``, ``answer`` (``None`` where the source publishes none), ``question_type``.
    - ``grounding``: ``text`` (the referring expression), ``category``, ``bbox``.
    - ``region_caption``: ``text`` (the region description), ``category``, ``bbox``.
    - ``detail``: ``text`` (the global description), ``objects`` (the local level: dicts with ``category``,
      ``bbox``, ``description``; may be empty).
    - ``conversation``: ``question`` and ``answer`` of one turn; a row holds the turns of one image in order.

    ``bbox`` is continuous pixel xyxy of the original image. The image is given either as ``image_bytes`` or as
    ``image_file`` (a path on disk); ``image_path`` is the release-relative path recorded in the row and the key
    that groups records of the same image.
    """

    task: str
    source: str
    split: str
    image_path: str
    question_id: str | None = None
    origin: str = "legacy"
    image_file: str | None = None
    image_bytes: bytes | None = None
    width: int | None = None
    height: int | None = None
    references: list[str] = field(default_factory=list)
    question: str | None = None
    answer: str | None = None
    question_type: str | None = None
    text: str | None = None
    category: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)

    def _where(self) -> str:
        return f"record {self.label!r}"

    @property
    def label(self) -> str:
        """How errors name this record: its question id, else source/split/image_path/task."""
        return self.question_id or "/".join((self.source, self.split, self.image_path, self.task))

    def validate(self) -> None:
        """Check the record against the schema.

        Raises:
            SchemaError: naming the record and the field that is wrong, and what was expected.
        """
        if self.task not in _TASK_SET:
            raise SchemaError(f"{self._where()}: field 'task' is {self.task!r}; expected one of {', '.join(TASKS)}.")
        if self.source not in _SOURCE_SET:
            raise SchemaError(
                f"{self._where()}: field 'source' is {self.source!r}; expected one of {', '.join(SOURCES)}."
            )
        if self.split not in _SPLIT_SET:
            raise SchemaError(
                f"{self._where()}: field 'split' is {self.split!r}; expected one of {', '.join(SPLITS)}."
            )
        if not self.image_path:
            raise SchemaError(f"{self._where()}: field 'image_path' is empty; give the release-relative image path.")
        if self.image_bytes is None and self.image_file is None:
            raise SchemaError(f"{self._where()}: neither 'image_bytes' nor 'image_file' is set; give one of them.")
        if self.task == "caption":
            if not self.references or any(not isinstance(r, str) or not r.strip() for r in self.references):
                raise SchemaError(f"{self._where()}: field 'references' must hold at least one non-empty caption.")
        elif self.task in ("vqa", "conversation"):
            if not self.question or not self.question.strip():
                raise SchemaError(f"{self._where()}: field 'question' is empty.")
            if self.answer is not None and not isinstance(self.answer, str):
                raise SchemaError(f"{self._where()}: field 'answer' must be a string or None, got {self.answer!r}.")
            if self.task == "vqa" and self.question_type not in _QUESTION_TYPE_SET:
                raise SchemaError(
                    f"{self._where()}: field 'question_type' is {self.question_type!r}; "
                    f"expected one of {', '.join(QUESTION_TYPES)}."
                )
        elif self.task in ("grounding", "region_caption"):
            if not self.text or not self.text.strip():
                name = "expression" if self.task == "grounding" else "description"
                raise SchemaError(f"{self._where()}: field 'text' (the {name}) is empty.")
        elif self.task == "detail":
            if not self.text or not self.text.strip():
                raise SchemaError(f"{self._where()}: field 'text' (the global description) is empty.")
            for k, obj in enumerate(self.objects):
                missing = {"category", "bbox", "description"} - set(obj)
                if missing:
                    raise SchemaError(f"{self._where()}: objects[{k}] lacks {', '.join(sorted(missing))}.")
        self.check_boxes()

    def check_boxes(self) -> None:
        """Check the record's boxes: four finite numbers, not degenerate, inside the image when its size is known.

        The build calls this again once the image is decoded and its real size is known.

        Raises:
            SchemaError: naming the record, the box field and its value.
        """
        if self.task in ("grounding", "region_caption"):
            self._check_box(self.bbox, "bbox")
        elif self.task == "detail":
            for k, obj in enumerate(self.objects):
                self._check_box(obj["bbox"], f"objects[{k}].bbox")

    def _check_box(self, box: Any, name: str) -> None:
        if box is None or len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
            raise SchemaError(
                f"{self._where()}: field {name!r} must be 4 finite numbers (pixel x1, y1, x2, y2), got {box!r}."
            )
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            raise SchemaError(
                f"{self._where()}: field {name!r} {list(box)} is degenerate: it needs x2 > x1 and y2 > y1."
            )
        if self.width is not None and self.height is not None:
            if x1 < 0 or y1 < 0 or x2 > self.width or y2 > self.height:
                raise SchemaError(
                    f"{self._where()}: field {name!r} {list(box)} lies outside the {self.width}x{self.height} image."
                )
