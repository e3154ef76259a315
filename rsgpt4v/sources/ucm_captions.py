"""UCM-Captions (Qu et al. 2016): 2,100 UC Merced images with five captions each."""

from __future__ import annotations

from rsgpt4v.sources.captions import KarpathyCaptions

__all__ = ["UCMCaptions"]

_LAYOUT = """\
UCM_captions/
  dataset.json        {"images": [{"filename": "1.tif", "split": "train", "sentences": [{"raw": ...}, ...]}, ...]}
  imgs/1.tif ... imgs/2100.tif   (or images/; 256x256 TIFF)
"""


class UCMCaptions(KarpathyCaptions):
    """UCM-Captions: 2,100 UC Merced land-use images (21 classes x 100, 256x256, 0.3 m) with 5 captions each.

    Dataset format: one Karpathy-style JSON, ``dataset.json``, listing every image with its ``filename``
    (``<n>.tif``), ``split`` (``train``/``val``/``test``) and ``sentences[].raw``. Images are named by number,
    ``1.tif`` to ``2100.tif`` in class blocks of 100; names are taken from the JSON.

    Folder structure::

        UCM_captions/
          dataset.json
          imgs/1.tif ... imgs/2100.tif   (or images/)

    Each image of a split becomes one caption record with all its references; ``image_path`` is
    ``UCM_captions/imgs/<filename>``, the path RS-GPT4V's released files use.

    If you use this dataset in your research, please cite Qu et al., "Deep semantic understanding of high
    resolution remote sensing image", CITS 2016.
    """

    name = "ucm_captions"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    annotation_names = ("dataset.json",)
    image_dirs = ("imgs", "images")
    release_prefix = "UCM_captions/imgs/"
