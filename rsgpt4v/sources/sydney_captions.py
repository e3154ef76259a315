"""Sydney-Captions (Qu et al. 2016): 613 aerial images of Sydney with five captions each."""

from __future__ import annotations

from rsgpt4v.sources.captions import KarpathyCaptions

__all__ = ["SydneyCaptions"]

_LAYOUT = """\
Sydney_captions/
  dataset.json        {"images": [{"filename": "1.tif", "split": "train", "sentences": [{"raw": ...}, ...]}, ...]}
  imgs/1.tif ... imgs/613.tif    (or images/; 500x500 TIFF)
"""


class SydneyCaptions(KarpathyCaptions):
    """Sydney-Captions: 613 aerial images of Sydney (7 classes, 500x500) with 5 captions each.

    Dataset format: one Karpathy-style JSON, ``dataset.json``, with ``filename`` (``<n>.tif``), ``split``
    (``train``/``val``/``test``) and ``sentences[].raw`` per image. Some images repeat a caption to reach five;
    the repeats are kept as references.

    Folder structure::

        Sydney_captions/
          dataset.json
          imgs/1.tif ... imgs/613.tif   (or images/)

    Each image of a split becomes one caption record with all its references; ``image_path`` is
    ``Sydney_captions/imgs/<filename>``, the path RS-GPT4V's released files use.

    If you use this dataset in your research, please cite Qu et al., "Deep semantic understanding of high
    resolution remote sensing image", CITS 2016.
    """

    name = "sydney_captions"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    annotation_names = ("dataset.json",)
    image_dirs = ("imgs", "images")
    release_prefix = "Sydney_captions/imgs/"
