"""NWPU-Captions (Cheng et al. 2022): 31,500 NWPU-RESISC45 images with five captions each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageProbe, SourceFormatError
from rsgpt4v.sources.captions import CaptionFolder, caption_items

__all__ = ["NWPUCaptions"]

_LAYOUT = """\
NWPU-Captions/
  dataset_nwpu.json   {"airplane": [{"filename": "airplane_001.jpg", "split": "train", "imgid": 30800,
                                     "raw": ..., "sentids": 154000, "raw_1": ..., "sentids_1": 154001, ...}], ...}
  NWPU_images/<category>/<category>_NNN.jpg   (or images/; 256x256 JPEG, 45 categories)
"""
#: ``raw``, ``raw_1`` ... ``raw_4`` and their ``sentids`` keys, in caption order.
_RAW_KEY = re.compile(r"raw(?:_(\d+))?")


def _captions(entry: dict) -> list[tuple[object, object]]:
    keys = sorted((int(m.group(1) or 0), k) for k in entry if (m := _RAW_KEY.fullmatch(k)))
    return [(entry.get("sentids" if n == 0 else f"sentids_{n}", n), entry[k]) for n, k in keys]


class NWPUCaptions(CaptionFolder):
    """NWPU-Captions: the 31,500 NWPU-RESISC45 images (45 classes x 700, 256x256) with 5 captions each.

    Dataset format: ``dataset_nwpu.json`` is not Karpathy-style: a JSON object keyed by category, each value a
    list of flat image records with ``filename``, ``imgid``, ``split`` (``train``/``val``/``test``), the captions
    ``raw``, ``raw_1`` ... ``raw_4`` and their integer (scalar) ``sentids``, ``sentids_1`` ... ``sentids_4``.
    Images are ``<images>/<category>/<filename>``. ``airplane_111.jpg`` is listed in the JSON but missing from
    the published image archive: its item is rejected as ``image file not found``.

    Folder structure::

        NWPU-Captions/
          dataset_nwpu.json
          NWPU_images/<category>/<filename>     (or images/)

    Each image of a split becomes one caption record with all its references; ``image_path`` is
    ``NWPU-RESISC45/<category>/<filename>``, the path RS-GPT4V's released files use.

    If you use this dataset in your research, please cite Cheng et al., "NWPU-Captions Dataset and MLCA-Net for
    Remote Sensing Image Captioning", IEEE TGRS 2022.
    """

    name = "nwpu_captions"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    annotation_names = ("dataset_nwpu.json",)
    image_dirs = ("NWPU_images", "images")
    release_prefix = "NWPU-RESISC45/"

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        ann, image_dir, data = self._open(root, split)
        if not isinstance(data, dict):
            raise SourceFormatError(f"{ann}: expected a JSON object keyed by category, found {type(data).__name__}.")
        probe = ImageProbe()
        seen: set[str] = set()
        for category, entries in data.items():
            if not isinstance(entries, list):
                found = type(entries).__name__
                raise SourceFormatError(f"{ann}: category {category!r} holds {found}, expected a list.")
            for k, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or "split" not in entry:
                    raise SourceFormatError(
                        f"{ann}: {category}[{k}] needs a string 'filename' and a 'split'; got {entry!r:.120}."
                    )
                if entry["split"] != split:
                    continue
                rel = f"{category}/{entry['filename']}"
                if rel in seen:
                    raise SourceFormatError(f"{ann}: {category}[{k}]: {rel!r} appears twice in split {split!r}.")
                seen.add(rel)
                yield from caption_items(
                    self, split, ann, rel, _captions(entry), str(image_dir / rel), self.release_prefix + rel, probe
                )
