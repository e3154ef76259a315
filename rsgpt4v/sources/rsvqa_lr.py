"""RSVQA-LR (Lobry et al. 2020): 772 Sentinel-2 tiles of the Netherlands with 77,232 questions."""

from __future__ import annotations

from rsgpt4v.sources.rsvqa import RSVQA

__all__ = ["RSVQALR"]

_LAYOUT = """\
RSVQA_LR/
  LR_split_train_images.json  LR_split_train_questions.json  LR_split_train_answers.json
  LR_split_val_images.json    LR_split_val_questions.json    LR_split_val_answers.json
  LR_split_test_images.json   LR_split_test_questions.json   LR_split_test_answers.json
  Images_LR/0.tif ... Images_LR/771.tif   (256x256; .png accepted)
"""


class RSVQALR(RSVQA):
    """RSVQA-LR: 772 Sentinel-2 RGB tiles (256x256, 10 m) with 77,232 generated questions from OpenStreetMap.

    Dataset format: per split ``LR_split_<split>_{images,questions,answers}.json`` with inactive placeholders
    and ids equal to list positions (see ``rsgpt4v.sources.rsvqa``). Question types: ``rural_urban`` (the
    question ``Is it a rural or an urban area`` has no question mark), ``presence``, ``count``, ``comp``.
    Answers are strings (``yes``, ``rural``, ``"403"``), kept verbatim (no binning of counts).

    Folder structure::

        RSVQA_LR/
          LR_split_{train,val,test}_{images,questions,answers}.json
          Images_LR/<id>.tif

    Each question becomes one VQA record; ``image_path`` is ``RSVQA_LR/Images_LR/<id>.tif``, the path
    RS-GPT4V's released files use.

    If you use this dataset in your research, please cite Lobry et al., "RSVQA: Visual Question Answering for
    Remote Sensing Data", IEEE TGRS 2020.
    """

    name = "rsvqa_lr"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    file_prefix = "LR"
    image_dirs = ("Images_LR",)
    release_prefix = "RSVQA_LR/Images_LR/"
    question_types = frozenset({"rural_urban", "presence", "count", "comp"})
