"""The Explore tab's logic: an index of a build's items per config and split, filters, and one record rendered.

Records are the items of ``rsgpt4v.data.items`` (a caption image, a question, an expression, a region, a detail
image, a conversation turn). The index keeps, per item, its row and place in the row, ids, source and question
type, read once without decoding images; rendering a record decodes only its row. Boxes come from the typed
``bbox`` fields (grounding, region caption, detail objects); conversation answers are searched with the codec's
:func:`rsgpt4v.boxes.find_boxes`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsgpt4v.boxes import find_boxes
from rsgpt4v.schema import TASKS

__all__ = ["ALL", "DISPLAY_SIDE", "DemoInputError", "Entry", "Explorer", "Rendered", "display_image"]

#: The choice meaning "no filter" in the source and question type menus.
ALL = "all"
#: Images are shown with their longer side at most this many pixels (boxes are scaled with them).
DISPLAY_SIDE = 1024


class DemoInputError(ValueError):
    """A user input the demo cannot act on; the message says what was wrong and what to do instead."""


@dataclass(frozen=True)
class Entry:
    """One item in the index: where it is and what the filters need."""

    row: int
    k: int
    question_id: str
    row_id: str
    source: str
    question_type: str | None
    image_path: str


@dataclass
class Rendered:
    """One record ready to show: the display image file, labelled boxes in its pixels, the chat, the typed fields."""

    image: str
    boxes: list[tuple[tuple[int, int, int, int], str]]
    chat: list[dict[str, str]]
    fields: dict[str, Any]
    item: dict[str, Any]


def display_image(image: Any, boxes: list[tuple[list[float], str]]) -> tuple[str, list[tuple[tuple[int, ...], str]]]:
    """Write ``image`` for display and map pixel ``xyxy`` boxes onto it (integer pixels).

    The image is downscaled to at most :data:`DISPLAY_SIDE` pixels and written once per content, atomically, as
    WebP into a folder of the system's temporary directory (where Gradio may serve files from): Gradio rewrites
    its own cache file of a PIL image in place on every event, which can cut off a concurrent download of it.

    Returns:
        ``(path, boxes)``, the value of a ``gr.AnnotatedImage``.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = min(1.0, DISPLAY_SIDE / max(rgb.size))
    if scale < 1.0:
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))))
    drawn = []
    for bbox, label in boxes:
        x1, y1, x2, y2 = (int(round(v * scale)) for v in bbox)
        drawn.append(((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)), label))
    digest = hashlib.sha256(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()[:32]
    path = Path(tempfile.gettempdir()) / "rsgpt4v-demo-images" / f"{digest}.webp"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=path.parent, suffix=".webp.part")
        with os.fdopen(fd, "wb") as f:
            rgb.save(f, format="WEBP", quality=90)
        os.replace(staging, path)
    return str(path), drawn


class Explorer:
    """Browse the items of one build (a folder or a Hub id) by config, split, source and question type.

    Args:
        data: what ``rsgpt4v.data.load`` takes as ``path``.
    """

    def __init__(self, data: str) -> None:
        import datasets

        from rsgpt4v.data import resolve_path

        self.data = data
        target = resolve_path(data)
        self.configs = [c for c in datasets.get_dataset_config_names(target) if c in TASKS]
        if not self.configs:
            raise DemoInputError(f"{data} has no task config ({', '.join(TASKS)}); is it an rsgpt4v build?")
        self._lock = threading.Lock()
        self._datasets: dict[str, Any] = {}
        self._indexes: dict[tuple[str, str], list[Entry]] = {}

    def _check_config(self, config: str) -> str:
        if config not in self.configs:
            raise DemoInputError(f"config {config!r} is not in {self.data}; choose one of {', '.join(self.configs)}.")
        return config

    def dataset(self, config: str) -> Any:
        """The ``DatasetDict`` of a config (loaded once)."""
        from rsgpt4v.data import load

        self._check_config(config)
        with self._lock:
            if config not in self._datasets:
                self._datasets[config] = load(config, path=self.data)
            return self._datasets[config]

    def splits(self, config: str) -> list[str]:
        """The config's splits, ``test`` first when there is one (what people evaluate on)."""
        names = list(self.dataset(config))
        return sorted(names, key=lambda s: (s != "test", s))

    def _split(self, config: str, split: str) -> Any:
        ds = self.dataset(config)
        if split not in ds:
            raise DemoInputError(f"config {config!r} has no split {split!r}; it has {', '.join(ds)}.")
        return ds[split]

    def index(self, config: str, split: str) -> list[Entry]:
        """Every item of a config and split, in dataset order (built once, without decoding images)."""
        key = (config, split)
        if key in self._indexes:
            return self._indexes[key]
        import datasets

        from rsgpt4v.data import items

        ds = self._split(config, split).cast_column("image", datasets.Image(decode=False))
        entries: list[Entry] = []
        row, k, last = -1, 0, None
        for item in items(ds):
            if item["id"] != last:
                row, k, last = row + 1, 0, item["id"]
            entries.append(
                Entry(
                    row=row,
                    k=k,
                    question_id=str(item["question_id"]),
                    row_id=item["id"],
                    source=item["source"],
                    question_type=item.get("question_type"),
                    image_path=item["image_path"],
                )
            )
            k += 1
        with self._lock:
            self._indexes.setdefault(key, entries)
        return self._indexes[key]

    def sources(self, config: str, split: str) -> list[str]:
        """The sources present in a config and split."""
        return sorted({e.source for e in self.index(config, split)})

    def question_types(self, config: str, split: str) -> list[str]:
        """The VQA question types present (empty for other configs)."""
        return sorted({e.question_type for e in self.index(config, split) if e.question_type is not None})

    @functools.lru_cache(maxsize=256)  # noqa: B019 (one Explorer per demo; the cache lives as long as the demo)
    def selection(self, config: str, split: str, source: str = ALL, question_type: str = ALL) -> tuple[int, ...]:
        """Positions in :meth:`index` of the items passing the source and question type filters.

        Raises:
            DemoInputError: an unknown config, split, source or question type.
        """
        entries = self.index(config, split)
        if source != ALL and source not in self.sources(config, split):
            raise DemoInputError(
                f"source {source!r} has no items in {config}/{split}; choose {ALL!r} or one of "
                f"{', '.join(self.sources(config, split))}."
            )
        if question_type != ALL and question_type not in self.question_types(config, split):
            present = self.question_types(config, split)
            raise DemoInputError(
                f"question type {question_type!r} has no items in {config}/{split}; choose {ALL!r}"
                + (f" or one of {', '.join(present)}." if present else " (only the vqa config has question types).")
            )
        return tuple(
            i
            for i, e in enumerate(entries)
            if (source == ALL or e.source == source) and (question_type == ALL or e.question_type == question_type)
        )

    def find(self, config: str, split: str, ident: str) -> int:
        """Position in :meth:`index` of an item given its question_id, or of a row's first item given its row id.

        Raises:
            DemoInputError: no item or row has that id.
        """
        ident = (ident or "").strip()
        if not ident:
            raise DemoInputError("the record id is empty: type a question_id or a row id (shown under each record).")
        entries = self.index(config, split)
        for i, e in enumerate(entries):
            if e.question_id == ident:
                return i
        for i, e in enumerate(entries):
            if e.row_id == ident:
                return i
        example = entries[0].question_id if entries else "none: this split is empty"
        raise DemoInputError(
            f"no record with id {ident!r} in {config}/{split} of {self.data}. Give a question_id (e.g. {example!r}) "
            "or a row id of this config and split."
        )

    def locate_image(self, ref: str) -> tuple[str, str, int]:
        """Find a dataset image by record id (question_id or row id) or by its ``image_path`` in the dataset.

        Only images stored in the dataset are returned; nothing is read from the file system. The indexes already
        built (the configs browsed so far) are searched first.

        Returns:
            ``(config, split, position)`` of the first item showing that image.

        Raises:
            DemoInputError: the reference is empty, or no record or image of the dataset has it (paths outside the
                dataset are refused).
        """
        ref = (ref or "").strip()
        if not ref:
            raise DemoInputError("no image: upload one, or give a record id or image path of the dataset.")
        built = list(self._indexes)
        others = [(c, s) for c in self.configs for s in self.splits(c) if (c, s) not in built]
        for config, split in built + others:
            for i, e in enumerate(self.index(config, split)):
                if ref in (e.question_id, e.row_id, e.image_path):
                    return config, split, i
        raise DemoInputError(
            f"{ref!r} is neither a record id nor an image path of the dataset {self.data}; files outside the "
            "dataset are never read. Copy a record id from the Explore tab, or upload the image."
        )

    def render(self, config: str, split: str, position: int) -> Rendered:
        """Decode and lay out the item at ``position`` of :meth:`index`."""
        from rsgpt4v.data import items

        entries = self.index(config, split)
        if not 0 <= position < len(entries):
            raise DemoInputError(f"record {position + 1} is out of range: {config}/{split} has {len(entries)}.")
        entry = entries[position]
        ds = self._split(config, split).select([entry.row])
        conversations = ds.select_columns(["conversations"])[0]["conversations"]
        item = list(items(ds))[entry.k]
        boxes = _typed_boxes(item)
        chat = []
        for turn in conversations:
            text = turn["value"].removeprefix("<image>\n")
            if turn["from"] == "gpt" and config == "conversation":
                found = find_boxes(text, item["width"], item["height"])
                boxes += [(b.as_list(), "in answer") for b in found.boxes]
            chat.append({"role": "user" if turn["from"] == "human" else "assistant", "content": text})
        image, drawn = display_image(item["image"], boxes)
        fields = {k: v for k, v in item.items() if k != "image"}
        return Rendered(image=image, boxes=drawn, chat=chat, fields=fields, item=item)


def _typed_boxes(item: dict[str, Any]) -> list[tuple[list[float], str]]:
    if "bbox" in item:
        return [(list(item["bbox"]), item.get("category") or item["task"])]
    return [(list(obj["bbox"]), obj["category"]) for obj in item.get("objects", [])]
