"""RSICD (Lu et al. 2017): 10,921 remote sensing images with five captions each."""

from __future__ import annotations

from rsgpt4v.sources.captions import KarpathyCaptions

__all__ = ["RSICD"]

_LAYOUT = """\
RSICD/
  dataset_rsicd.json  (or annotations_rsicd/dataset_rsicd.json)
                      {"images": [{"filename": "airport_1.jpg", "split": "train", "sentences": [{"raw": ...}]}]}
  RSICD_images/airport_1.jpg ... RSICD_images/00001.jpg ...   (224x224 JPEG)
"""


class RSICD(KarpathyCaptions):
    """RSICD: 10,921 remote sensing images (224x224, 30 scene classes) with 5 captions each.

    Dataset format: one Karpathy-style JSON, ``dataset_rsicd.json`` (at the root or in ``annotations_rsicd/``),
    with ``filename``, ``split`` (``train``/``val``/``test``) and ``sentences[].raw`` per image. File names are
    ``<class>_<n>.jpg`` plus 921 numeric names (``00001.jpg``), so the scene class is not derived from them.
    Most images repeat captions to reach five; ``tokens`` do not always match ``raw``, so ``raw`` is used.

    Folder structure::

        RSICD/
          dataset_rsicd.json            (or annotations_rsicd/dataset_rsicd.json)
          RSICD_images/<name>.jpg

    Each image of a split becomes one caption record with all its references; ``image_path`` is
    ``RSICD/RSICD_images/<filename>``, the path RS-GPT4V's released files use.

    If you use this dataset in your research, please cite Lu et al., "Exploring Models and Data for Remote
    Sensing Image Caption Generation", IEEE TGRS 2018.
    """

    name = "rsicd"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    annotation_names = ("dataset_rsicd.json", "annotations_rsicd/dataset_rsicd.json")
    image_dirs = ("RSICD_images",)
    release_prefix = "RSICD/RSICD_images/"
