"""RSVQA-HR (Lobry et al. 2020): 10,659 USGS aerial tiles with about a million questions."""

from __future__ import annotations

from rsgpt4v.sources.rsvqa import RSVQA

__all__ = ["RSVQAHR"]

_LAYOUT = """\
RSVQA_HR/
  USGS_split_train_images.json       USGS_split_train_questions.json       USGS_split_train_answers.json
  USGS_split_val_images.json         USGS_split_val_questions.json         USGS_split_val_answers.json
  USGS_split_test_images.json        USGS_split_test_questions.json        USGS_split_test_answers.json
  USGS_split_test_phili_images.json  USGS_split_test_phili_questions.json  USGS_split_test_phili_answers.json
  Data/0.tif ... Data/10658.tif   (512x512; .png accepted)
"""


class RSVQAHR(RSVQA):
    """RSVQA-HR: 10,659 USGS high-resolution orthophoto tiles (512x512, 15 cm) with generated questions.

    Dataset format: per split ``USGS_split_<split>_{images,questions,answers}.json`` with inactive placeholders
    and ids equal to list positions (see ``rsgpt4v.sources.rsvqa``). Splits ``train``, ``val``, ``test`` and
    ``test_phili`` (Philadelphia, another sensor). Question types: ``presence``, ``count``, ``comp``, ``area``;
    area answers are strings such as ``"10632m2"`` and ``"0m2"``, kept verbatim.

    Folder structure::

        RSVQA_HR/
          USGS_split_{train,val,test,test_phili}_{images,questions,answers}.json
          Data/<id>.tif

    Each question becomes one VQA record; ``image_path`` is ``RSVQA_HR/Data/<id>.tif``.

    If you use this dataset in your research, please cite Lobry et al., "RSVQA: Visual Question Answering for
    Remote Sensing Data", IEEE TGRS 2020.
    """

    name = "rsvqa_hr"
    splits = ("train", "val", "test", "test_phili")
    layout = _LAYOUT
    file_prefix = "USGS"
    image_dirs = ("Data",)
    release_prefix = "RSVQA_HR/Data/"
    question_types = frozenset({"presence", "count", "comp", "area"})
