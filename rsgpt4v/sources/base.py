"""The protocol every source adapter follows, its errors, and the helpers they share.

An adapter reads one dataset in the layout its authors publish and yields typed items: one ``Record`` per
caption image, question, expression or conversation turn, or a ``Rejection`` (with its reason) for an item it
read but cannot accept. ``rsgpt4v.build`` groups the records into rows; nothing here writes anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rsgpt4v.licences import licence_for
from rsgpt4v.schema import SOURCES, Record, Rejection

__all__ = [
    "ImageInfo",
    "ImageProbe",
    "SourceAdapter",
    "SourceFormatError",
    "SourceNotFoundError",
    "first_existing",
    "load_json",
    "probe_image",
]


class SourceNotFoundError(FileNotFoundError):
    """A file or folder a source needs is missing; the message names it and shows the expected layout."""


class SourceFormatError(ValueError):
    """A source file is malformed (bad JSON or XML, wrong structure, duplicate ids); the message says where."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header of a readable image tells: its size and format."""

    width: int
    height: int
    format: str


def _truncation(image: Any, path: str, size: int) -> str | None:
    """Return why an opened image is truncated, from its structure only (no pixel decode), or ``None``."""
    fmt = image.format
    if fmt == "JPEG":
        with open(path, "rb") as f:
            f.seek(max(0, size - 64))
            if b"\xff\xd9" not in f.read():
                return f"truncated JPEG (no end-of-image marker): {path}"
    elif fmt == "PNG":
        image.verify()  # walks every chunk and its CRC up to IEND without decoding pixels
    elif fmt == "TIFF":
        tags = image.tag_v2
        offsets = tags.get(273) or tags.get(324) or ()
        counts = tags.get(279) or tags.get(325) or ()
        end = max((o + c for o, c in zip(offsets, counts)), default=0)
        if end > size:
            return f"truncated TIFF (image data ends at byte {end}, file has {size} bytes): {path}"
    else:
        end = max((tile[2] for tile in image.tile), default=0)
        if end >= size:
            return f"truncated {fmt} image (data starts at byte {end}, file has {size} bytes): {path}"
    return None


def probe_image(path: str) -> ImageInfo | str:
    """Read an image's size from its header and check its structure for truncation, without decoding pixels.

    Args:
        path: the image file.

    Returns:
        The image's ``ImageInfo``, or the reason it cannot be used (missing, empty, truncated, undecodable).
    """
    from PIL import Image

    from rsgpt4v.images import pil_formats

    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return f"image file not found: {path}"
    except OSError as exc:
        return f"cannot read image {path}: {exc}"
    if size == 0:
        return f"image file is empty (0 bytes): {path}"
    try:
        with open(path, "rb") as fh:
            formats = pil_formats(fh.read(16))
        with Image.open(path, formats=formats) as image:
            width, height = image.size
            fmt = image.format or "UNKNOWN"
            reason = _truncation(image, path, size)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"undecodable image {path}: {exc}"
    return reason or ImageInfo(width, height, fmt)


class ImageProbe:
    """``probe_image`` with a per-path cache, so every item of an image reads its header once."""

    def __init__(self) -> None:
        self._cache: dict[str, ImageInfo | str] = {}

    def __call__(self, path: str) -> ImageInfo | str:
        """Return the cached ``ImageInfo`` of ``path`` or the reason it is unusable."""
        info = self._cache.get(path)
        if info is None:
            info = self._cache[path] = probe_image(path)
        return info


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SourceFormatError(f"key {key!r} appears twice in one JSON object; ids must be unique")
        out[key] = value
    return out


def load_json(path: Path, unique_keys: bool = False) -> Any:
    """Load a JSON file.

    Args:
        path: the file.
        unique_keys: fail on a key repeated within one object (``json`` would keep the last one silently).

    Raises:
        SourceFormatError: naming the file, line, column and character offset of a syntax error, or a repeated key.
    """
    try:
        with open(path, "rb") as f:
            return json.load(f, object_pairs_hook=_unique_keys if unique_keys else None)
    except SourceFormatError as exc:
        raise SourceFormatError(f"{path}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise SourceFormatError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno} (character {exc.pos}): {exc.msg}. "
            "Re-download or repair the file."
        ) from None
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text at byte {exc.start}: {exc.reason}.") from None


def first_existing(root: Path, candidates: tuple[str, ...]) -> Path | None:
    """The first of ``candidates`` (paths relative to ``root``) that exists, else ``None``."""
    for rel in candidates:
        path = root / rel
        if path.exists():
            return path
    return None


class SourceAdapter:
    """Base class of every source adapter.

    Subclasses set ``name``, ``splits`` and ``layout`` and implement ``_files`` (what ``check`` verifies) and
    ``items``. ``title``, ``licence``, ``homepage`` and ``citation`` of a legacy source are filled in from
    ``rsgpt4v.licences``, the one place those facts are kept. The class docstring of each adapter shows its
    expected directory layout; ``layout`` holds the same text for error messages.

    Attributes:
        name: a ``rsgpt4v.schema.Source`` value, or ``"release"``.
        title: the dataset's usual name.
        licence: the licence as its authors state it.
        homepage: where the authors publish it.
        citation: BibTeX of the paper to cite.
        splits: the splits ``items`` accepts.
        layout: the expected directory layout under ``root``.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    licence: ClassVar[str]
    homepage: ClassVar[str]
    citation: ClassVar[str]
    splits: ClassVar[tuple[str, ...]]
    layout: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name in SOURCES:
            facts = licence_for(name)
            cls.title, cls.licence = facts.name, facts.licence
            cls.homepage, cls.citation = facts.homepage, facts.citation

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        """What must exist: ``(description, candidate relative paths)`` pairs; one candidate must exist."""
        raise NotImplementedError

    def check(self, root: str | Path, split: str | None = None) -> None:
        """Verify that ``root`` holds the files of ``split`` (all splits when ``None``).

        Raises:
            SourceNotFoundError: naming every missing file or folder and showing the expected layout.
            ValueError: if ``split`` is not one of ``splits``.
        """
        root = Path(root)
        if split is not None:
            self._check_split(split)
        if not root.is_dir():
            raise self._not_found(root, [f"the folder {root} itself"])
        missing = [
            f"{what} ({' or '.join(repr(c) for c in cands)})"
            for what, cands in self._files(root, split)
            if first_existing(root, cands) is None
        ]
        if missing:
            raise self._not_found(root, missing)

    def annotation_files(self, root: str | Path, split: str | None = None) -> list[Path]:
        """The annotation files of ``split`` (all splits when ``None``) that exist under ``root``, for the report."""
        root = Path(root)
        found = (first_existing(root, cands) for _, cands in self._files(root, split))
        return [path for path in found if path is not None and path.is_file()]

    def _not_found(self, root: Path, missing: list[str]) -> SourceNotFoundError:
        lines = "\n".join(f"  - {m}" for m in missing)
        return SourceNotFoundError(
            f"{self.title} ({self.name}) not found in {str(root)!r}. Missing:\n{lines}\n"
            f"Expected layout under that folder:\n{self.layout.rstrip()}\n"
            f"Download it from {self.homepage} and pass its folder as --source {self.name}=PATH."
        )

    def _find(self, root: Path, what: str, candidates: tuple[str, ...]) -> Path:
        """The first existing of ``candidates`` under ``root``.

        Raises:
            SourceNotFoundError: if none exists.
        """
        path = first_existing(root, candidates)
        if path is None:
            raise self._not_found(root, [f"{what} ({' or '.join(repr(c) for c in candidates)})"])
        return path

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ValueError(f"{self.name} has no split {split!r}; its splits are {', '.join(self.splits)}.")

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        """Yield the records of one split, and a ``Rejection`` for every item read but not accepted.

        Args:
            root: the dataset folder, laid out as the class docstring shows.
            split: one of ``splits``.

        Raises:
            SourceNotFoundError: if a file the split needs is missing.
            SourceFormatError: if an annotation file is malformed or holds duplicate ids.
        """
        raise NotImplementedError

    def _reject(self, split: str, file: str | Path, key: str, reason: str, task: str | None) -> Rejection:
        return Rejection(source=self.name, split=split, file=str(file), key=key, reason=reason, task=task)
