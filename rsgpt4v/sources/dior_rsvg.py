"""DIOR-RSVG (Zhan et al. 2023): 38,320 referring expressions with boxes on 17,402 DIOR images."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageInfo, ImageProbe, SourceAdapter, SourceFormatError

__all__ = ["DIORRSVG"]

#: Every expression yields one item of each task; a rejected expression yields one rejection per task.
_TASKS = ("grounding", "region_caption")
_LAYOUT = """\
DIOR_RSVG/
  Annotations/00001.xml ...   one VOC-style XML per image; each <object> = name, pose, bndbox, description
  JPEGImages/00001.jpg ...    800x800 DIOR images
  train.txt  val.txt  test.txt   one expression index per line (a running count over every <object>
                                 of the XML files in sorted order)
"""


def _split_indices(path: Path) -> set[int]:
    indices: set[int] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            indices.add(int(line))
        except ValueError:
            raise SourceFormatError(
                f"{path}, line {lineno}: {line!r} is not an expression index (one integer per line)."
            ) from None
    return indices


def _number(obj: ET.Element, tag: str) -> float | None:
    node = obj.find(f"bndbox/{tag}")
    try:
        return float(node.text) if node is not None and node.text is not None else None
    except ValueError:
        return None


def _description(obj: ET.Element) -> str | None:
    """The ``<description>`` text; by position (4th child) as the official loader reads it when the tag differs."""
    node = obj.find("description")
    if node is None and len(obj) > 3 and obj[2].tag == "bndbox":
        node = obj[3]
    return node.text if node is not None else None


class DIORRSVG(SourceAdapter):
    """DIOR-RSVG: 38,320 referring expressions with horizontal boxes on 17,402 DIOR images (800x800, 20 classes).

    Dataset format: ``Annotations/<stem>.xml`` (PASCAL VOC style) per image; every ``<object>`` holds ``name``
    (a DIOR class, mixed case such as ``Expressway-Service-area``), ``pose``, ``bndbox`` (``xmin``, ``ymin``,
    ``xmax``, ``ymax``: pixels) and ``description`` (the expression). ``train.txt``/``val.txt``/``test.txt``
    hold expression indices, not image names: the official loader walks the XML files in sorted name order,
    counts every ``<object>`` and keeps the object whose running index is in the split file. This adapter counts
    the same way (every object, also those it rejects).

    Folder structure::

        DIOR_RSVG/
          Annotations/<stem>.xml
          JPEGImages/<stem>.jpg
          train.txt  val.txt  test.txt

    Each expression of a split yields a ``grounding`` record (expression -> box) and, as the reverse task, a
    ``region_caption`` record (box -> expression), both with ``question_id`` ``dior_rsvg/<expression index>``
    and the box as pixel xyxy of the original image (no +1). ``image_path`` is ``DIOR-RSVG/JPEGImages/<stem>.jpg``.
    An empty description, or a box that is degenerate or outside the image, rejects both records of the
    expression with the reason (one rejection per task, so that read = accepted + rejected holds per task).

    If you use this dataset in your research, please cite Zhan et al., "RSVG: Exploring Data and Models for
    Visual Grounding on Remote Sensing Data", IEEE TGRS 2023.
    """

    name = "dior_rsvg"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    release_prefix = "DIOR-RSVG/JPEGImages/"

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        files = [("the annotation folder", ("Annotations",)), ("the image folder", ("JPEGImages",))]
        return files + [(f"the {s} split file", (f"{s}.txt",)) for s in ((split,) if split else self.splits)]

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        self.check(root, split)
        root = Path(os.path.abspath(root))
        wanted = _split_indices(root / f"{split}.txt")
        probe = ImageProbe()
        index = 0
        for xml_path in sorted((root / "Annotations").glob("*.xml"), key=lambda p: p.name):
            try:
                objects = ET.parse(xml_path).getroot().findall("object")
            except ET.ParseError as exc:
                line, column = exc.position
                raise SourceFormatError(f"{xml_path}: malformed XML at line {line}, column {column}: {exc}.") from None
            first, index = index, index + len(objects)
            chosen = [(first + k, obj) for k, obj in enumerate(objects) if first + k in wanted]
            if not chosen:
                continue
            stem = xml_path.stem
            image_file = str(root / "JPEGImages" / f"{stem}.jpg")
            info = probe(image_file)
            for expression_index, obj in chosen:
                yield from self._expression(split, xml_path, expression_index, obj, stem, image_file, info)

    def _expression(
        self,
        split: str,
        xml_path: Path,
        expression_index: int,
        obj: ET.Element,
        stem: str,
        image_file: str,
        info: ImageInfo | str,
    ) -> Iterator[Record | Rejection]:
        box = tuple(_number(obj, tag) for tag in ("xmin", "ymin", "xmax", "ymax"))
        description = _description(obj)
        category = (obj.findtext("name") or "").strip()
        if isinstance(info, str):
            reason = info
        elif description is None or not description.strip():
            reason = "empty description"
        elif any(v is None for v in box):
            reason = f"bndbox lacks a numeric xmin/ymin/xmax/ymax: {list(box)}"
        elif box[2] <= box[0] or box[3] <= box[1]:
            reason = f"degenerate box {list(box)}: needs xmax > xmin and ymax > ymin"
        elif box[0] < 0 or box[1] < 0 or box[2] > info.width or box[3] > info.height:
            reason = f"box {list(box)} lies outside the {info.width}x{info.height} image"
        else:
            for task in _TASKS:
                yield Record(
                    task=task,
                    source=self.name,
                    split=split,
                    image_path=f"{self.release_prefix}{stem}.jpg",
                    question_id=f"{self.name}/{expression_index}",
                    image_file=image_file,
                    width=info.width,
                    height=info.height,
                    text=description,
                    category=category,
                    bbox=box,  # type: ignore[arg-type]
                )
            return
        for task in _TASKS:
            yield self._reject(split, xml_path, f"expression {expression_index}", reason, task)
