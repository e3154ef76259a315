"""FloodNet Track 2 (Rahnemoonfar et al. 2021): VQA on UAV images taken after Hurricane Harvey."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageProbe, SourceAdapter, SourceFormatError, load_json

__all__ = ["FloodNet"]

_LAYOUT = """\
FloodNet Challenge @ EARTHVISION 2021 - Track 2/
  Questions/Training Question.json   {"<question id>": {"Image_ID": "10170.JPG", "Question": ...,
  Questions/Valid Question.json                          "Ground_Truth": "Yes" | 4 | ..., "Question_Type": ...}}
  Questions/Test Question.json       (Training_Question.json etc. accepted; only training answers are public)
  Images/Train_Image/<Image_ID>  Images/Valid_Image/<Image_ID>  Images/Test_Image/<Image_ID>   (4000x3000 JPEG)
"""
#: Per split: (candidate question files, image folder).
_SPLITS = {
    "train": (("Questions/Training Question.json", "Questions/Training_Question.json"), "Images/Train_Image"),
    "val": (("Questions/Valid Question.json", "Questions/Valid_Question.json"), "Images/Valid_Image"),
    "test": (("Questions/Test Question.json", "Questions/Test_Question.json"), "Images/Test_Image"),
}
_TYPES = {
    "Condition_Recognition": "condition_recognition",
    "Yes_No": "yes_no",
    "Simple_Counting": "simple_counting",
    "Complex_Counting": "complex_counting",
}


class FloodNet(SourceAdapter):
    """FloodNet Track 2: questions on 4000x3000 UAV images of Hurricane Harvey's floods (about 4,500 with answers).

    Dataset format: per split, a JSON object keyed by question id, each value holding ``Image_ID`` (file name,
    upper-case ``.JPG``), ``Question``, ``Ground_Truth`` (a string such as ``"Yes"``, ``"non flooded"``,
    ``"flooded,non flooded"``, or an integer for counting) and ``Question_Type`` (``Condition_Recognition``,
    ``Yes_No``, ``Simple_Counting``, ``Complex_Counting``). Only the training answers are public.

    Folder structure::

        FloodNet Challenge @ EARTHVISION 2021 - Track 2/
          Questions/Training Question.json   Questions/Valid Question.json   Questions/Test Question.json
          Images/Train_Image/<Image_ID>      Images/Valid_Image/<Image_ID>   Images/Test_Image/<Image_ID>

    Each question becomes one VQA record: question verbatim, answer ``str(Ground_Truth)`` verbatim (``Yes``
    keeps its capital), ``None`` where the file has no answer (valid and test: the build counts these as "no
    public answer"), ``question_type`` ``condition_recognition``/``yes_no``/``simple_counting``/
    ``complex_counting``, ``question_id`` ``floodnet/<key>``, ``image_path`` ``FloodNet/Images/<folder>/<Image_ID>``.

    If you use this dataset in your research, please cite Rahnemoonfar et al., "FloodNet: A High Resolution
    Aerial Imagery Dataset for Post Flood Scene Understanding", IEEE Access 2021.
    """

    name = "floodnet"
    splits = ("train", "val", "test")
    layout = _LAYOUT
    release_prefix = "FloodNet/"

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        files = []
        for s in (split,) if split else self.splits:
            questions, images = _SPLITS[s]
            files += [(f"the {s} question file", questions), (f"the {s} image folder", (images,))]
        return files

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        self.check(root, split)
        root = Path(os.path.abspath(root))
        candidates, image_folder = _SPLITS[split]
        path = self._find(root, f"the {split} question file", candidates)
        data = load_json(path, unique_keys=True)
        if not isinstance(data, dict):
            found = type(data).__name__
            raise SourceFormatError(f"{path}: expected a JSON object keyed by question id, found {found}.")
        probe = ImageProbe()
        for key, q in data.items():
            if not isinstance(q, dict):
                raise SourceFormatError(f"{path}: question {key!r} is {q!r:.80}, expected an object.")
            image_id, question, qtype = q.get("Image_ID"), q.get("Question"), q.get("Question_Type")
            truth = q.get("Ground_Truth")
            answer = None if truth is None else str(truth)
            if not isinstance(image_id, str) or not image_id:
                yield self._reject(split, path, f"question {key}", "no 'Image_ID'", "vqa")
                continue
            image_file = str(root / image_folder / image_id)
            info = probe(image_file)
            if isinstance(info, str):
                reason = info
            elif not isinstance(question, str) or not question.strip():
                reason = "answer without a question" if answer is not None else "empty question"
            elif qtype not in _TYPES:
                reason = f"unknown Question_Type {qtype!r}; expected one of {', '.join(_TYPES)}"
            elif answer is not None and not answer.strip():
                reason = "empty answer"
            else:
                yield Record(
                    task="vqa",
                    source=self.name,
                    split=split,
                    image_path=f"{self.release_prefix}{image_folder}/{image_id}",
                    question_id=f"{self.name}/{key}",
                    image_file=image_file,
                    width=info.width,
                    height=info.height,
                    question=question,
                    answer=answer,
                    question_type=_TYPES[qtype],
                )
                continue
            yield self._reject(split, path, f"question {key}", reason, "vqa")
