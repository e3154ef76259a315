"""The predictions file: JSON lines keyed by ``question_id``, read strictly, and LLaVA's answers format.

A line written by ``rsgpt4v predict`` holds ``question_id``, ``id`` (the row id), ``config``, ``split``, ``task``,
``source``, ``prompt``, ``text`` (the prediction), ``model_id``, ``adapter_id`` and ``settings`` (the generation
settings, including ``conversation_history``). LLaVA's answers format (``question_id``, ``prompt``, ``text``,
``answer_id``, ``model_id``, ``metadata``) is read the same way: only ``question_id`` and ``text`` are required.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Prediction", "PredictionFormatError", "iter_lines", "llava_answer", "read_predictions"]


class PredictionFormatError(ValueError):
    """A predictions file is malformed; the message names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Prediction:
    """One predicted answer.

    Attributes:
        question_id: the item's question_id (an integer id of a LLaVA answers file becomes its decimal string).
        text: the predicted text.
        line: the line of the file it was read from (1-based).
        record: the whole JSON object of the line.
    """

    question_id: str
    text: str
    line: int
    record: dict[str, Any] = field(repr=False, compare=False)


def iter_lines(path: str | Path, *, truncated_tail: str = "error") -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, JSON object)`` for every non-blank line of a JSON-lines file.

    Args:
        path: the file.
        truncated_tail: ``"error"`` raises on a malformed last line as on any other; ``"drop"`` skips a malformed
            last line that does not end with a newline (what an interrupted writer leaves behind).

    Raises:
        PredictionFormatError: a line is not valid JSON or not a JSON object (naming the file and line).
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} does not exist.")
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if truncated_tail == "drop" and lineno == len(lines):
                return
            detail = f"column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            last = " (the last line: the file looks truncated)" if lineno == len(lines) else ""
            raise PredictionFormatError(
                f"{path}, line {lineno}{last}: malformed JSON at {detail}. Fix or delete the line; a predictions "
                "file has one JSON object per line."
            ) from None
        if not isinstance(obj, dict):
            raise PredictionFormatError(f"{path}, line {lineno}: expected a JSON object, got {obj!r:.80}.")
        yield lineno, obj


def _question_id(path: Path, lineno: int, obj: Mapping[str, Any]) -> str:
    if "question_id" not in obj:
        raise PredictionFormatError(f"{path}, line {lineno}: no `question_id`; every prediction needs one.")
    qid = obj["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)):
        raise PredictionFormatError(
            f"{path}, line {lineno}: `question_id` is {qid!r}; it must be a string or an integer."
        )
    return str(qid)


def read_predictions(
    path: str | Path, *, question_id_prefix: str = "", truncated_tail: str = "error"
) -> dict[str, Prediction]:
    """Read a predictions file (``rsgpt4v predict`` output or LLaVA answers) into ``{question_id: Prediction}``.

    Args:
        path: the JSON-lines file.
        question_id_prefix: prepended to every question_id, e.g. ``"UCM-Captions/"`` to match LLaVA answers to a
            released evaluation file (whose ids count from 0) with the ids a build keeps (``<file stem>/<id>``).
        truncated_tail: see :func:`iter_lines`.

    Raises:
        PredictionFormatError: malformed JSON, a line without ``question_id`` or ``text``, a non-string ``text``,
            or a question_id given twice (both lines are named).
    """
    path = Path(path)
    out: dict[str, Prediction] = {}
    for lineno, obj in iter_lines(path, truncated_tail=truncated_tail):
        qid = question_id_prefix + _question_id(path, lineno, obj)
        if qid in out:
            raise PredictionFormatError(
                f"{path}, line {lineno}: question_id {qid!r} was already predicted on line {out[qid].line}; keep "
                "one prediction per question_id."
            )
        text = obj.get("text")
        if not isinstance(text, str):
            raise PredictionFormatError(
                f"{path}, line {lineno} (question_id {qid!r}): `text` is {text!r}; the prediction must be a string."
            )
        out[qid] = Prediction(qid, text, lineno, obj)
    return out


def llava_answer(record: Mapping[str, Any]) -> dict[str, Any]:
    """One ``rsgpt4v predict`` line in LLaVA's answers format.

    ``answer_id`` is derived from the question_id, model and adapter (LLaVA draws a random one), so a rerun writes
    the same file. ``metadata`` keeps the row id, task, adapter and generation settings.
    """
    key = json.dumps([record["question_id"], record.get("model_id"), record.get("adapter_id")])
    return {
        "question_id": record["question_id"],
        "prompt": record.get("prompt", ""),
        "text": record["text"],
        "answer_id": hashlib.sha256(key.encode("utf-8")).hexdigest()[:22],
        "model_id": record.get("model_id"),
        "metadata": {
            k: record[k] for k in ("id", "config", "split", "task", "source", "adapter_id", "settings") if k in record
        },
    }
