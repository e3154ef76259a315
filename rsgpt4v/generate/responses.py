"""What each stage asks the model to return (JSON schemas) and the checks its reply must pass.

A reply is accepted only when it is one JSON object of the stage's shape with non-empty texts, and when every box it
refers to parses in the run's box format and lies inside the image. The checks raise ``InvalidResponse`` with a
reason short enough to send back to the model in the repair request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from rsgpt4v import boxes

__all__ = ["InvalidResponse", "json_schema", "parse_reply", "validate"]

_BOX_START = re.compile(r"\[[ \t]*[-+.\d]|\{\s*<|<box>")
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class InvalidResponse(ValueError):
    """A reply that does not follow its stage's format; the message says what is wrong."""


def json_schema(stage: str, question_types: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a stage's reply (for ``response_format={"type": "json_schema", ...}``)."""
    text = {"type": "string"}

    def obj(**props: Any) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    if stage == "local":
        item = obj(category=text, bbox=text, description=text)
        schema = obj(objects={"type": "array", "items": item}, relations={"type": "array", "items": text})
    elif stage == "global":
        schema = obj(description=text)
    elif stage == "conversation":
        turn = obj(type={"type": "string", "enum": list(question_types)}, question=text, answer=text)
        schema = obj(turns={"type": "array", "items": turn})
    else:
        raise ValueError(f"Unknown stage {stage!r}; expected local, global or conversation.")
    return schema


def parse_reply(content: str, finish_reason: str | None = None) -> dict[str, Any]:
    """Read a reply as one JSON object (a surrounding Markdown code fence is allowed).

    Raises:
        InvalidResponse: if the reply is empty, cut off, not JSON or not an object.
    """
    if not content.strip():
        raise InvalidResponse("the reply is empty")
    fenced = _FENCE.match(content)
    try:
        data = json.loads(fenced.group(1) if fenced else content)
    except ValueError as err:
        cut = " (it was cut off at the token limit: be more concise)" if finish_reason == "length" else ""
        raise InvalidResponse(f"the reply is not valid JSON: {err}{cut}") from None
    if not isinstance(data, dict):
        raise InvalidResponse(f"the reply must be a JSON object, got a JSON {type(data).__name__}")
    return data


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidResponse(f"{where} must be a non-empty string, got {json.dumps(value)[:60]}")
    return value.strip()


def _list(data: dict[str, Any], key: str, where: str = "the reply") -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise InvalidResponse(f"{where} needs a list {key!r}, got {json.dumps(value)[:60]}")
    return value


def _check_text_boxes(text: str, where: str, fmt: str, width: int, height: int) -> None:
    if not _BOX_START.search(text):  # fast path: no text that could start a box
        return
    found = boxes.find_boxes(text, width, height, fmts=[fmt], pad_to_square=False)
    if found.failures:
        bad = found.failures[0]
        raise InvalidResponse(f"{where} refers to a box {bad.text!r} that is not valid: {bad.reason}")


def validate(
    stage: str,
    data: dict[str, Any],
    *,
    width: int,
    height: int,
    box_format: str,
    turns: int = 0,
    question_types: Sequence[str] = (),
    min_words: int = 0,
) -> dict[str, Any]:
    """Check a parsed reply of ``stage`` and return the output to store (boxes as pixel xyxy lists).

    Args:
        stage: ``local``, ``global`` or ``conversation``.
        data: the parsed reply.
        width: image width in pixels.
        height: image height in pixels.
        box_format: the ``rsgpt4v.boxes`` format boxes are written in (relative to the unpadded image).
        turns: the number of turns a conversation must have.
        question_types: the allowed conversation question types.
        min_words: the fewest words a global description may have.

    Raises:
        InvalidResponse: naming the first problem found.
    """
    if stage == "local":
        objects = []
        items = _list(data, "objects")
        if not items:
            raise InvalidResponse("'objects' is empty: describe at least one object")
        for k, item in enumerate(items):
            where = f"objects[{k}]"
            if not isinstance(item, dict):
                raise InvalidResponse(f"{where} must be an object with category, bbox and description")
            category = _text(item.get("category"), f"{where}.category")
            box_text = _text(item.get("bbox"), f"{where}.bbox")
            try:
                parsed = boxes.parse(box_text, box_format, width, height, pad_to_square=False)
            except boxes.BoxParseError as err:
                reason = f"{where}.bbox {box_text!r} is not a valid box inside the image: {err.reason}"
                raise InvalidResponse(reason) from None
            if len(parsed) != 1:
                raise InvalidResponse(f"{where}.bbox must hold exactly one box, got {len(parsed)}")
            description = _text(item.get("description"), f"{where}.description")
            _check_text_boxes(description, f"{where}.description", box_format, width, height)
            bbox = [round(v, 4) for v in parsed[0].as_list()]
            objects.append({"category": category, "bbox": bbox, "description": description})
        relations = [_text(r, f"relations[{k}]") for k, r in enumerate(_list(data, "relations"))]
        return {"objects": objects, "relations": relations}
    if stage == "global":
        description = _text(data.get("description"), "'description'")
        words = len(description.split())
        if words < min_words:
            raise InvalidResponse(f"'description' has {words} words; write at least {min_words}")
        _check_text_boxes(description, "'description'", box_format, width, height)
        return {"description": description}
    if stage == "conversation":
        items = _list(data, "turns")
        if len(items) != turns:
            raise InvalidResponse(f"'turns' has {len(items)} turns; exactly {turns} are required")
        out = []
        for k, item in enumerate(items):
            where = f"turns[{k}]"
            if not isinstance(item, dict):
                raise InvalidResponse(f"{where} must be an object with type, question and answer")
            kind = _text(item.get("type"), f"{where}.type")
            if kind not in question_types:
                raise InvalidResponse(f"{where}.type is {kind!r}; use one of {', '.join(question_types)}")
            turn = {"type": kind}
            for key in ("question", "answer"):
                turn[key] = _text(item.get(key), f"{where}.{key}")
                _check_text_boxes(turn[key], f"{where}.{key}", box_format, width, height)
            out.append(turn)
        return {"turns": out}
    raise ValueError(f"Unknown stage {stage!r}; expected local, global or conversation.")
