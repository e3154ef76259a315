"""The authors' released RS-GPT4V files: LLaVA evaluation JSONL (test) and LLaVA conversation JSON (train)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rsgpt4v import prompts
from rsgpt4v.licences import RSGPT4V_CITATION
from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources.base import ImageInfo, ImageProbe, SourceAdapter, SourceFormatError, load_json

__all__ = ["PREFIXES", "Release"]

#: The ``source`` of a released item, by the first folder of its image path.
PREFIXES: dict[str, str] = {
    "UCM_captions": "ucm_captions",
    "Sydney_captions": "sydney_captions",
    "RSICD": "rsicd",
    "NWPU-RESISC45": "nwpu_captions",
    "RSVQA_LR": "rsvqa_lr",
    "RSVQA_HR": "rsvqa_hr",
    "DIOR-RSVG": "dior_rsvg",
}
#: Evaluation-line ``category`` -> task (VQA categories are also the question type).
_CATEGORY_TASKS = {
    "caption": "caption",
    "presence": "vqa",
    "comp": "vqa",
    "count": "vqa",
    "rural_urban": "vqa",
    "area": "vqa",
    "detail": "detail",
    "conv_complex": "conversation",
}
_EVAL_KEYS = ("question_id", "image", "text", "answer", "category")
_IMAGE_TOKEN = "<image>"
_GROUNDING_HEAD, _, _GROUNDING_TAIL = prompts.GROUNDING_PROMPT.partition("{expression}")
_LAYOUT = """\
RS-GPT4V/                            the folder passed as --source release=PATH
  *.jsonl   LLaVA evaluation lines {"question_id", "image", "text", "answer", "category"}   -> split test
            (UCM-Captions.jsonl, Sydney-Captions.jsonl, RSICD.jsonl, NWPU-Captions.jsonl, RSVQA_LR.jsonl,
             Detailed_Description.jsonl, Conversation_Complex_Reasoning.jsonl)
  *.json    LLaVA conversation records [{"id", "image", "conversations": [{"from", "value"}, ...]}] -> split train
  UCM_captions/imgs/<n>.tif  Sydney_captions/imgs/<n>.tif  RSICD/RSICD_images/<name>.jpg
  NWPU-RESISC45/<class>/<class>_<n>.jpg  RSVQA_LR/Images_LR/<id>.tif  RSVQA_HR/...  DIOR-RSVG/...
                                     images at the paths the records name, relative to the folder
"""


def _strip_image_token(text: str) -> str:
    return text.replace(_IMAGE_TOKEN, "").strip("\n")


def _classify(prompt: str) -> str:
    """The task of a conversation record from its first human prompt (``<image>`` token removed)."""
    if prompt == prompts.CAPTION_PROMPT:
        return "caption"
    if prompt.endswith(prompts.VQA_SUFFIX):
        return "vqa"
    if prompt.startswith(_GROUNDING_HEAD):
        return "grounding"
    if prompt == prompts.DETAIL_PROMPT:
        return "detail"
    return "conversation"


class Release(SourceAdapter):
    """The RS-GPT4V release as its authors publish it (LLaVA formats), read from one folder.

    Every ``*.jsonl`` directly in the folder is read as LLaVA evaluation lines (split ``test``) and every
    ``*.json`` as LLaVA conversation records (split ``train``); image paths resolve against the folder. The
    ``source`` of an item comes from the first folder of its image path (``PREFIXES``: ``UCM_captions/`` ->
    ``ucm_captions`` ... ``DIOR-RSVG/`` -> ``dior_rsvg``); any other prefix is a counted rejection. Every record
    has ``origin="release"`` and keeps its ``image`` path as ``image_path``, so a release row and the legacy row
    of the same image get the same row id (the build stops unless ``--prefer`` says which wins).

    Folder structure::

        RS-GPT4V/
          *.jsonl    evaluation lines (test)
          *.json     conversation records (train)
          <image paths named by the records>

    Evaluation lines go by ``category``: ``caption`` -> a caption record with all references (``answer`` is the
    list of references); ``presence``/``comp``/``count``/``rural_urban``/``area`` -> a VQA record of that question
    type, the question without RS-GPT4V's answer suffix; ``detail`` -> a detail record; ``conv_complex`` -> a
    conversation turn. Conversation records go by their first human prompt: the caption prompt -> a caption
    record (each answer a reference); a prompt ending with the VQA suffix -> one VQA record per turn, type
    ``unknown``; the LLaVA-1.5 grounding prompt -> one grounding record per turn, the answer read as ``norm01``
    box text on the padded square by ``rsgpt4v.boxes.parse``; the detail prompt -> a detail record; anything
    else -> conversation turns.

    ``question_id`` keeps the release's own id, prefixed with the file's stem so that ids of different files
    (which all count from 0) stay unique: ``UCM-Captions/0``; a conversation record with several items gives
    ``<stem>/<id>#<k>``.
    """

    name = "release"
    title = "RS-GPT4V (released files)"
    licence = "no data licence stated by the authors (repository: Apache-2.0); each image keeps its source's licence"
    homepage = "https://github.com/GeoX-Lab/RS-GPT4V"
    citation = RSGPT4V_CITATION
    splits = ("train", "test")
    layout = _LAYOUT

    def _annotation_files(self, root: Path, split: str | None) -> list[Path]:
        patterns = {"test": "*.jsonl", "train": "*.json"}
        wanted = (split,) if split else self.splits
        return sorted(p for s in wanted for p in root.glob(patterns[s]) if p.is_file())

    def check(self, root: str | Path, split: str | None = None) -> None:
        """Verify that ``root`` holds at least one release file (``*.jsonl`` or ``*.json``).

        Raises:
            SourceNotFoundError: naming what is missing and showing the expected layout.
            ValueError: if ``split`` is not ``train`` or ``test``.
        """
        root = Path(root)
        if split is not None:
            self._check_split(split)
        if not root.is_dir():
            raise self._not_found(root, [f"the folder {root} itself"])
        if not self._annotation_files(root, None):
            raise self._not_found(root, ["any *.jsonl (evaluation lines) or *.json (conversation records) file"])

    def annotation_files(self, root: str | Path, split: str | None = None) -> list[Path]:
        return self._annotation_files(Path(root), split)

    def items(self, root: str | Path, split: str) -> Iterator[Record | Rejection]:
        self.check(root, split)
        root = Path(os.path.abspath(root))
        probe = ImageProbe()
        for path in self._annotation_files(root, split):
            if split == "test":
                yield from self._eval_file(root, path, probe)
            else:
                yield from self._conversation_file(root, path, probe)

    # -- evaluation JSONL ---------------------------------------------------------------------------------------

    def _eval_file(self, root: Path, path: Path, probe: ImageProbe) -> Iterator[Record | Rejection]:
        seen: set[Any] = set()
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceFormatError(
                        f"{path}, line {lineno}, column {exc.colno}: malformed JSON: {exc.msg}."
                    ) from None
                if not isinstance(obj, dict):
                    raise SourceFormatError(f"{path}, line {lineno}: expected a JSON object, got {obj!r:.80}.")
                qid = obj.get("question_id")
                key = f"line {lineno} (question_id {qid!r})"
                if qid is not None and qid in seen:
                    raise SourceFormatError(f"{path}, line {lineno}: question_id {qid!r} appears twice in the file.")
                seen.add(qid)
                yield self._eval_item(root, path, key, obj, probe)

    def _eval_item(
        self, root: Path, path: Path, key: str, obj: dict[str, Any], probe: ImageProbe
    ) -> Record | Rejection:
        category = obj.get("category")
        task = _CATEGORY_TASKS.get(category) if isinstance(category, str) else None
        missing = [k for k in _EVAL_KEYS if k not in obj]
        if missing:
            return self._reject("test", path, key, f"lacks {', '.join(missing)}", task)
        if task is None:
            return self._reject(
                "test", path, key, f"unknown category {category!r}; expected one of {', '.join(_CATEGORY_TASKS)}", None
            )
        image = obj["image"]
        source, reason = self._source_of(image)
        if source is None:
            return self._reject("test", path, key, reason, task)
        info = probe(str(root / image))
        if isinstance(info, str):
            return self._reject("test", path, key, info, task)
        text, answer = obj["text"], obj["answer"]
        base = self._base(task, source, "test", image, f"{path.stem}/{obj['question_id']}", root, info)
        if task == "caption":
            refs = answer if isinstance(answer, list) else [answer]
            if not refs or any(not isinstance(r, str) or not r.strip() for r in refs):
                return self._reject("test", path, key, "empty caption", task)
            return Record(**base, references=list(refs))
        if not isinstance(text, str) or not text.strip():
            return self._reject("test", path, key, "answer without a question (empty 'text')", task)
        if not isinstance(answer, str) or not answer.strip():
            return self._reject("test", path, key, "question without an answer (empty 'answer')", task)
        if task == "vqa":
            question = text.removesuffix(prompts.VQA_SUFFIX)
            return Record(**base, question=question, answer=answer, question_type=category)
        if task == "detail":
            return Record(**base, text=answer)
        return Record(**base, question=text, answer=answer)

    # -- conversation JSON --------------------------------------------------------------------------------------

    def _conversation_file(self, root: Path, path: Path, probe: ImageProbe) -> Iterator[Record | Rejection]:
        data = load_json(path)
        if not isinstance(data, list):
            raise SourceFormatError(f"{path}: expected a JSON list of LLaVA conversation records.")
        seen: set[Any] = set()
        for k, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise SourceFormatError(f"{path}: record [{k}] is {rec!r:.80}, expected an object.")
            rid = rec.get("id", k)
            if rid in seen:
                raise SourceFormatError(f"{path}: record [{k}]: id {rid!r} appears twice in the file.")
            seen.add(rid)
            yield from self._conversation(root, path, f"record [{k}] (id {rid!r})", f"{path.stem}/{rid}", rec, probe)

    def _conversation(
        self, root: Path, path: Path, key: str, qid: str, rec: dict[str, Any], probe: ImageProbe
    ) -> Iterator[Record | Rejection]:
        pairs, problems = _pairs(rec.get("conversations"))
        task = _classify(_strip_image_token(pairs[0][0])) if pairs else None
        for where, reason in problems:
            yield self._reject("train", path, f"{key} {where}", reason, task)
        if not pairs:
            if not problems:
                yield self._reject("train", path, key, "no conversation turns", None)
            return
        image = rec.get("image")
        source, reason = self._source_of(image) if isinstance(image, str) else (None, "no 'image' path")
        info = probe(str(root / image)) if source is not None else reason
        if isinstance(info, str):
            yield self._reject("train", path, key, info, task)
            return
        if task == "caption":
            base = self._base("caption", source, "train", image, qid, root, info)
            yield Record(**base, references=[answer for _, answer in pairs])
            return
        if task == "detail":
            yield Record(**self._base("detail", source, "train", image, qid, root, info), text=pairs[0][1])
            for k in range(1, len(pairs)):
                yield self._reject("train", path, f"{key} turn {k}", "extra turn after a detail description", task)
            return
        for k, (human, answer) in enumerate(pairs):
            item_qid = qid if len(pairs) == 1 else f"{qid}#{k}"
            base = self._base(task, source, "train", image, item_qid, root, info)
            human = _strip_image_token(human)
            if task == "vqa":
                question = human.removesuffix(prompts.VQA_SUFFIX)
                yield Record(**base, question=question, answer=answer, question_type="unknown")
            elif task == "grounding":
                yield self._grounding(path, f"{key} turn {k}", base, human, answer, info)
            else:
                yield Record(**base, question=human, answer=answer)

    def _grounding(
        self, path: Path, key: str, base: dict[str, Any], human: str, answer: str, info: ImageInfo
    ) -> Record | Rejection:
        from rsgpt4v import boxes

        expression = human.removeprefix(_GROUNDING_HEAD).removesuffix(_GROUNDING_TAIL)
        try:
            found = boxes.parse(answer, "norm01", info.width, info.height)
        except boxes.BoxParseError as exc:
            return self._reject("train", path, key, f"grounding answer {answer!r}: {exc}", "grounding")
        if len(found) != 1:
            reason = f"grounding answer holds {len(found)} boxes, expected 1"
            return self._reject("train", path, key, reason, "grounding")
        box = found[0]
        return Record(**base, text=expression, bbox=(box.x1, box.y1, box.x2, box.y2))

    # -- shared -------------------------------------------------------------------------------------------------

    def _source_of(self, image: str) -> tuple[str | None, str]:
        source = PREFIXES.get(image.split("/", 1)[0])
        if source is None:
            known = ", ".join(f"{p}/" for p in PREFIXES)
            return None, f"image path {image!r} does not start with a known source folder ({known})"
        return source, ""

    @staticmethod
    def _base(task: str, source: str, split: str, image: str, qid: str, root: Path, info: ImageInfo) -> dict[str, Any]:
        return {
            "task": task,
            "source": source,
            "split": split,
            "image_path": image,
            "question_id": qid,
            "origin": "release",
            "image_file": str(root / image),
            "width": info.width,
            "height": info.height,
        }


def _pairs(conversations: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(human, gpt) pairs of a LLaVA conversation, and the turns that do not pair up (where, reason)."""
    if not isinstance(conversations, list):
        return [], [("conversations", f"'conversations' is {conversations!r:.60}, expected a list of turns")]
    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    pending: str | None = None
    for k, turn in enumerate(conversations):
        who = turn.get("from") if isinstance(turn, dict) else None
        value = turn.get("value") if isinstance(turn, dict) else None
        if not isinstance(value, str) or not value.strip():
            problems.append((f"turn {k}", f"empty or missing 'value' in {turn!r:.60}"))
        elif who == "human":
            if pending is not None:
                problems.append((f"turn {k - 1}", "question without an answer"))
            pending = value
        elif who == "gpt":
            if pending is None:
                problems.append((f"turn {k}", "answer without a question"))
            else:
                pairs.append((pending, value))
                pending = None
        else:
            problems.append((f"turn {k}", f"unknown speaker {who!r}; expected 'human' or 'gpt'"))
    if pending is not None:
        problems.append((f"turn {len(conversations) - 1}", "question without an answer"))
    return pairs, problems
