"""What the caption sources share: the Karpathy-style caption JSON (UCM, Sydney, RSICD, RSITMD) and caption items.

A caption image becomes one ``Record`` holding all of its reference captions, verbatim (typos, double spaces and
the ``" ."`` ending kept; the ``raw`` strings, never re-joined ``tokens``). An empty caption is rejected on its
own (reason ``empty caption``) and the image keeps its other captions; an image whose file is missing or unusable
is rejected with the image's reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageProbe, SourceAdapter, SourceFormatError, load_json

__all__ = ["KarpathyCaptions", "caption_items"]


def caption_items(
    adapter: SourceAdapter,
    split: str,
    file: Path,
    key: str,
    captions: list[tuple[str, object]],
    image_file: str,
    image_path: str,
    probe: ImageProbe,
) -> Iterator[Record | Rejection]:
    """Yield the caption record of one image, or rejections for its empty captions and an unusable image.

    Args:
        adapter: the source adapter (names the source in records and rejections).
        split: the split.
        file: the annotation file (for rejections and errors).
        key: how the image is named in ``file`` (its filename).
        captions: ``(sentence id, raw caption)`` pairs in file order.
        image_file: the image's absolute path.
        image_path: the release-relative image path.
        probe: the image header cache.

    Raises:
        SourceFormatError: if a caption is not a string.
    """
    references: list[str] = []
    for sentid, raw in captions:
        if not isinstance(raw, str):
            raise SourceFormatError(
                f"{file}: image {key!r}, sentence {sentid}: caption is {raw!r}, expected a string."
            )
        if raw.strip():
            references.append(raw)
        else:
            yield adapter._reject(split, file, f"{key} sentence {sentid}", "empty caption", "caption")
    if not references:
        if not captions:
            yield adapter._reject(split, file, key, "image has no captions", "caption")
        return
    info = probe(image_file)
    if isinstance(info, str):
        yield adapter._reject(split, file, key, info, "caption")
        return
    yield Record(
        task="caption",
        source=adapter.name,
        split=split,
        image_path=image_path,
        image_file=image_file,
        width=info.width,
        height=info.height,
        references=references,
    )


class CaptionFolder(SourceAdapter):
    """A caption dataset of one annotation JSON file and one image folder, each found among candidate paths.

    Attributes:
        annotation_names: candidate paths of the annotation JSON, relative to the root (first found is used).
        image_dirs: candidate image folders, relative to the root.
        release_prefix: the release-relative folder of the images.
    """

    annotation_names: ClassVar[tuple[str, ...]]
    image_dirs: ClassVar[tuple[str, ...]]
    release_prefix: ClassVar[str]

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        return [("the caption annotation file", self.annotation_names), ("the image folder", self.image_dirs)]

    def _open(self, root: str | Path, split: str) -> tuple[Path, Path, object]:
        """Check ``root`` for ``split``; return the annotation file, the image folder and the parsed annotation."""
        self.check(root, split)
        root = Path(os.path.abspath(root))
        ann = self._find(root, "the caption annotation file", self.annotation_names)
        image_dir = self._find(root, "the image folder", self.image_dirs)
        return ann, image_dir, load_json(ann)


class KarpathyCaptions(CaptionFolder):
    """A caption dataset in the Karpathy JSON format: ``{"images": [{filename, split, sentences: [{raw}]}]}``.

    Subclasses name the annotation file, the image folder and the release prefix of image paths
    (``image_path = release_prefix + filename``); see :class:`CaptionFolder`.
    """

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        ann, image_dir, data = self._open(root, split)
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            raise SourceFormatError(
                f"{ann}: expected a JSON object with an 'images' list (Karpathy caption format), "
                f"found {type(data).__name__} without it."
            )
        probe = ImageProbe()
        seen: set[str] = set()
        for k, entry in enumerate(images):
            if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or "split" not in entry:
                raise SourceFormatError(f"{ann}: images[{k}] needs a string 'filename' and a 'split'; got {entry!r}.")
            if entry["split"] != split:
                continue
            filename = entry["filename"]
            if filename in seen:
                raise SourceFormatError(
                    f"{ann}: images[{k}]: filename {filename!r} appears twice in split {split!r}; "
                    "each image must be listed once."
                )
            seen.add(filename)
            sentences = entry.get("sentences") or []
            captions = [(s.get("sentid", j), s.get("raw")) for j, s in enumerate(sentences)]
            yield from caption_items(
                self,
                split,
                ann,
                filename,
                captions,
                str(image_dir / filename),
                self.release_prefix + filename,
                probe,
            )
