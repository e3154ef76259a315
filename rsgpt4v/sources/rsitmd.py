"""RSITMD (Yuan et al. 2022): 4,743 remote sensing images with five fine-grained captions each."""

from __future__ import annotations

from rsgpt4v.sources.captions import KarpathyCaptions

__all__ = ["RSITMD"]

_LAYOUT = """\
RSITMD/
  dataset_RSITMD.json {"images": [{"filename": "boat_0.tif", "split": "train", "sentences": [{"raw": ...}]}]}
  images/<class>_<n>.tif   (256x256)
"""


class RSITMD(KarpathyCaptions):
    """RSITMD: 4,743 remote sensing images (32 classes, 256x256) with 5 fine-grained captions each.

    Dataset format: one Karpathy-style JSON, ``dataset_RSITMD.json``, with ``filename`` (``<class>_<n>.tif``),
    ``split`` (``train``/``test`` only: RSITMD has no validation split) and ``sentences[].raw``. Copies
    downloaded before 2021-10-28 hold a few blank sentences; each is rejected as ``empty caption`` and its image
    keeps the other captions. Other keys (``keywords``) are ignored.

    Folder structure::

        RSITMD/
          dataset_RSITMD.json
          images/<class>_<n>.tif

    Each image of a split becomes one caption record with all its references; ``image_path`` is
    ``RSITMD/images/<filename>``.

    If you use this dataset in your research, please cite Yuan et al., "Exploring a Fine-Grained Multiscale
    Method for Cross-Modal Remote Sensing Image Retrieval", IEEE TGRS 2022.
    """

    name = "rsitmd"
    splits = ("train", "test")
    layout = _LAYOUT
    annotation_names = ("dataset_RSITMD.json",)
    image_dirs = ("images",)
    release_prefix = "RSITMD/images/"
