"""What RSVQA-LR and RSVQA-HR share: the split files of Lobry et al.'s RSVQA databases.

Each split has three files, ``<prefix>_split_<split>_{images,questions,answers}.json``, holding
``{"images": [...]}``, ``{"questions": [...]}`` and ``{"answers": [...]}``. Every file lists entries by database
id with ``list[i]["id"] == i``; entries outside the split are placeholders ``{"id": i, "active": false}``. An
active image lists its ``questions_ids``; a question has ``question``, ``type`` and ``answers_ids`` (one id); an
answer has ``answer``, always a string (``"yes"``, ``"34"``, ``"10632m2"``). Entries are looked up by id (by
position when positions equal ids, as in the released files, else through an id index).

Adaption: one VQA record per question of an active image, question verbatim (the build adds RS-GPT4V's answer
suffix), answer verbatim, ``question_type`` = the RSVQA ``type`` (``presence``, ``count``, ``comp``,
``rural_urban``, ``area``), ``question_id`` = ``<source>/<RSVQA question id>``. Records come image by image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageProbe, SourceAdapter, SourceFormatError, load_json

__all__ = ["RSVQA"]

_KINDS = ("images", "questions", "answers")
_IMAGE_EXTENSIONS = (".tif", ".png")


def _entries(path: Path, kind: str) -> list[Any]:
    data = load_json(path)
    entries = data.get(kind) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SourceFormatError(f"{path}: expected a JSON object with a {kind!r} list (RSVQA split file).")
    return entries


def _by_id(entries: list[Any], path: Path, kind: str) -> list[Any]:
    """Entries indexed by id.

    ``entries`` itself when every position equals its id (the released files), else a list with the entry of id
    ``i`` at position ``i`` and ``None`` in the gaps.
    """
    if all(type(e) is dict and e.get("id") == i for i, e in enumerate(entries)):
        return entries
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or type(entry.get("id")) is not int or not 0 <= entry["id"] < 2**31:
            raise SourceFormatError(f"{path}: {kind}[{k}] needs a non-negative integer 'id'; got {entry!r:.120}.")
    table: list[Any] = [None] * (max((e["id"] for e in entries), default=-1) + 1)
    for k, entry in enumerate(entries):
        if table[entry["id"]] is not None:
            raise SourceFormatError(f"{path}: {kind}[{k}]: id {entry['id']} appears twice; ids must be unique.")
        table[entry["id"]] = entry
    return table


@dataclass
class _Questions:
    """The active questions of a split file as columns indexed by question id (``None`` where there is none).

    Columns of strings and integers are not tracked by the garbage collector, unlike a million question dicts, and
    take a fraction of their memory; the dicts are dropped once the columns are built.
    """

    text: list[Any]
    type: list[Any]
    answer_id: list[Any]

    @classmethod
    def read(cls, path: Path) -> _Questions:
        table = _by_id(_entries(path, "questions"), path, "questions")
        text: list[Any] = [None] * len(table)
        qtype: list[Any] = [None] * len(table)
        answer_id: list[Any] = [None] * len(table)
        names: dict[Any, Any] = {}
        for qid, q in enumerate(table):
            if type(q) is dict and q.get("active", True) and "question" in q:
                text[qid] = q["question"]
                qtype[qid] = names.setdefault(q.get("type"), q.get("type"))
                ids = q.get("answers_ids")
                answer_id[qid] = ids[0] if type(ids) is list and ids else None
        return cls(text, qtype, answer_id)


def _answers(path: Path) -> list[Any]:
    """The answer strings of a split file indexed by answer id (``None`` for placeholders)."""
    table = _by_id(_entries(path, "answers"), path, "answers")
    return [a.get("answer") if type(a) is dict and a.get("active", True) else None for a in table]


class RSVQA(SourceAdapter):
    """Base of the RSVQA-LR and RSVQA-HR adapters (see the module docstring for the format and the adaption).

    Attributes:
        file_prefix: the split files' prefix (``LR`` or ``USGS``).
        image_dirs: candidate image folders under the root.
        release_prefix: the release-relative image folder (``image_path = release_prefix + "<id>.tif"``).
        question_types: the ``type`` strings this dataset uses.
    """

    file_prefix: ClassVar[str]
    image_dirs: ClassVar[tuple[str, ...]]
    release_prefix: ClassVar[str]
    question_types: ClassVar[frozenset[str]]

    def _split_file(self, split: str, kind: str) -> str:
        return f"{self.file_prefix}_split_{split}_{kind}.json"

    def _files(self, root: Path, split: str | None) -> list[tuple[str, tuple[str, ...]]]:
        files = [("the image folder", self.image_dirs)]
        for s in (split,) if split else self.splits:
            files += [(f"the {s} {kind} file", (self._split_file(s, kind),)) for kind in _KINDS]
        return files

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        self.check(root, split)
        root = Path(os.path.abspath(root))
        image_dir = self._find(root, "the image folder", self.image_dirs)
        paths = {kind: root / self._split_file(split, kind) for kind in _KINDS}
        # One file at a time is held as Python objects; each is reduced to compact columns before the next.
        answers = _answers(paths["answers"])
        questions = _Questions.read(paths["questions"])
        images = _entries(paths["images"], "images")
        yield from self._records(split, paths, image_dir, images, questions, answers)

    def _records(
        self,
        split: str,
        paths: dict[str, Path],
        image_dir: Path,
        images: list[Any],
        questions: _Questions,
        answers: list[Any],
    ) -> Iterator[Record | Rejection]:
        name, types, qfile = self.name, self.question_types, paths["questions"]
        texts, qtypes, answer_ids = questions.text, questions.type, questions.answer_id
        n_questions, n_answers = len(texts), len(answers)
        probe = ImageProbe()
        seen_questions = bytearray(n_questions)
        used_answers = bytearray(n_answers)
        for k, image in enumerate(images):
            if not isinstance(image, dict) or not image.get("active"):
                continue
            image_id = image.get("id", k)
            image_name, info = self._image(image_dir, image_id, probe)
            image_file = str(image_dir / image_name)
            image_path = self.release_prefix + image_name
            for qid in image.get("questions_ids") or ():
                question = texts[qid] if type(qid) is int and 0 <= qid < n_questions else None
                if question is None:
                    reason = f"image {image_id} lists question {qid}, which is missing"
                    yield self._reject(split, qfile, f"question {qid}", reason, "vqa")
                    continue
                if seen_questions[qid]:
                    raise SourceFormatError(
                        f"{paths['images']}: question id {qid} is listed twice (again by image {image_id}); "
                        "question ids must be unique."
                    )
                seen_questions[qid] = 1
                aid = answer_ids[qid]
                answer = answers[aid] if type(aid) is int and 0 <= aid < n_answers else None
                if answer is not None:
                    used_answers[aid] = 1
                qtype = qtypes[qid]
                if isinstance(info, str):
                    reason = info
                elif not isinstance(question, str) or not question.strip():
                    reason = "empty question"
                elif qtype not in types:
                    reason = f"unknown question type {qtype!r}; expected one of {', '.join(sorted(types))}"
                elif not isinstance(answer, str):
                    reason = "question without an answer"
                else:
                    yield Record(
                        task="vqa",
                        source=name,
                        split=split,
                        image_path=image_path,
                        question_id=f"{name}/{qid}",
                        image_file=image_file,
                        width=info.width,
                        height=info.height,
                        question=question,
                        answer=answer,
                        question_type=qtype,
                    )
                    continue
                yield self._reject(split, qfile, f"question {qid}", reason, "vqa")
        for aid, answer in enumerate(answers):
            if answer is not None and not used_answers[aid]:
                yield self._reject(split, paths["answers"], f"answer {aid}", "answer without a question", "vqa")

    def _image(self, image_dir: Path, image_id: Any, probe: ImageProbe) -> tuple[str, Any]:
        """The image's file name and its ``ImageInfo`` (or the reason it is unusable); ``.tif`` then ``.png``."""
        for ext in _IMAGE_EXTENSIONS:
            image_name = f"{image_id}{ext}"
            info = probe(str(image_dir / image_name))
            if not (isinstance(info, str) and info.startswith("image file not found")):
                return image_name, info
        return f"{image_id}{_IMAGE_EXTENSIONS[0]}", f"image file not found: {image_dir / f'{image_id}.tif'} (nor .png)"
