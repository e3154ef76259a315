"""Where the images to generate for come from: a folder of your own images, or the records of a source adapter."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rsgpt4v.generate.store import ImageItem
from rsgpt4v.schema import Record, Rejection

__all__ = ["IMAGE_SUFFIXES", "items_from_folder", "items_from_records"]

#: File suffixes read as images from a folder.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"})


def items_from_folder(folder: str | Path, split: str = "train", source: str = "custom") -> list[ImageItem]:
    """Every image under ``folder`` (recursively, sorted), as source ``custom`` with no annotations.

    ``image_path`` is the path relative to ``folder`` (POSIX separators), so re-running on the same folder finds the
    same store keys.

    Raises:
        FileNotFoundError: if ``folder`` is not a directory.
        ValueError: if it holds no image, or an image cannot be read (naming the file).
    """
    from rsgpt4v.sources.base import probe_image

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"--images {str(folder)!r} is not a folder; pass the folder that holds your images.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}).")
    items = []
    for path in files:
        info = probe_image(str(path))
        if isinstance(info, str):
            raise ValueError(f"{info}. Remove or repair the file and run again.")
        items.append(
            ImageItem(
                source=source,
                split=split,
                image_path=path.relative_to(root).as_posix(),
                image_file=str(path.resolve()),
                width=info.width,
                height=info.height,
            )
        )
    return items


def items_from_records(records: Iterable[Record | Rejection], split: str | None = None) -> list[ImageItem]:
    """Group a source adapter's records by image; their categories and boxes become the annotations.

    Args:
        records: what an adapter yields (rejections are skipped).
        split: keep only records of this split (all when None).

    Raises:
        ValueError: if a record names no image file or its size is unknown and unreadable.
    """
    from rsgpt4v.sources.base import ImageProbe

    probe = ImageProbe()
    items: dict[tuple[str, str, str], ImageItem] = {}
    for record in records:
        if isinstance(record, Rejection) or (split is not None and record.split != split):
            continue
        key = (record.source, record.split, record.image_path)
        item = items.get(key)
        if item is None:
            if record.image_file is None:
                raise ValueError(f"record {record.label!r}: field 'image_file' is None; generation needs the file.")
            width, height = record.width, record.height
            if width is None or height is None:
                info = probe(record.image_file)
                if isinstance(info, str):
                    raise ValueError(f"record {record.label!r}: {info}")
                width, height = info.width, info.height
            item = items[key] = ImageItem(*key, image_file=record.image_file, width=width, height=height)
        boxes = [(record.category, record.bbox)] if record.bbox is not None else []
        boxes += [(o.get("category"), o.get("bbox")) for o in record.objects]
        for category, bbox in boxes:
            annotation = {"category": category or "object", "bbox": [float(v) for v in bbox]}
            if annotation not in item.annotations:
                item.annotations.append(annotation)
    return list(items.values())
