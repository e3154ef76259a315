from __future__ import annotations

import json

import pytest

from rsgpt4v.generate.responses import InvalidResponse, json_schema, parse_reply, validate

W, H = 200, 100


def _local(*objects, relations=("the ship is left of the tank",)):
    return {"objects": list(objects), "relations": list(relations)}


def _obj(bbox="[0.10, 0.20, 0.50, 0.60]", category="ship", description="a white ship"):
    return {"category": category, "bbox": bbox, "description": description}


def test_parse_reply_accepts_fenced_json():
    assert parse_reply('```json\n{"description": "x"}\n```') == {"description": "x"}
    assert parse_reply('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("content", "finish", "message"),
    [
        ("", "stop", "the reply is empty"),
        ('{"objects": [', "length", "cut off at the token limit"),
        ("[1, 2]", "stop", "must be a JSON object, got a JSON list"),
        ("Here you go: {}", "stop", "not valid JSON"),
    ],
)
def test_parse_reply_errors(content, finish, message):
    with pytest.raises(InvalidResponse, match=message):
        parse_reply(content, finish)


def test_local_boxes_become_pixels():
    out = validate("local", _local(_obj()), width=W, height=H, box_format="norm01")
    assert out == {
        "objects": [{"category": "ship", "bbox": [20.0, 20.0, 100.0, 60.0], "description": "a white ship"}],
        "relations": ["the ship is left of the tank"],
    }
    out = validate("local", _local(_obj("<box>(100,200),(500,600)</box>")), width=W, height=H, box_format="grid1000")
    assert out["objects"][0]["bbox"] == [20.0, 20.0, 100.0, 60.0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_local(), "'objects' is empty"),
        ({"objects": "ship"}, "needs a list 'objects'"),
        (_local(_obj(category=" ")), r"objects\[0\].category must be a non-empty string"),
        (_local(_obj(bbox="[0.1, 0.2, 0.5]")), r"objects\[0\].bbox '\[0.1, 0.2, 0.5\]' is not a valid box"),
        (_local(_obj(bbox="[0.5, 0.2, 0.1, 0.6]")), "degenerate box"),
        (_local(_obj(bbox="[0.1, 0.2, 0.5, 1.6]")), r"y2 = 1.6 is outside \[0, 1\]"),
        (_local(_obj(bbox="[0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.6]")), "exactly one box, got 2"),
        (_local(_obj(description="see [0.1, 0.2, 1.5, 0.6]")), r"description refers to a box .* x2 = 1.5 is outside"),
        (_local(_obj(), relations=[""]), r"relations\[0\] must be a non-empty string"),
    ],
)
def test_local_errors(data, message):
    with pytest.raises(InvalidResponse, match=message):
        validate("local", data, width=W, height=H, box_format="norm01")


def test_global_min_words_and_boxes():
    text = "An industrial site with four storage tanks arranged in pairs along a road."
    assert validate("global", {"description": text}, width=W, height=H, box_format="norm01", min_words=5) == {
        "description": text
    }
    with pytest.raises(InvalidResponse, match="has 13 words; write at least 30"):
        validate("global", {"description": text}, width=W, height=H, box_format="norm01", min_words=30)
    with pytest.raises(InvalidResponse, match="'description' must be a non-empty string"):
        validate("global", {"text": text}, width=W, height=H, box_format="norm01")
    with pytest.raises(InvalidResponse, match="outside the 200x100 image"):
        validate("global", {"description": "a tank at [10, 10, 250, 50]"}, width=W, height=H, box_format="pixel")


def test_conversation_checks():
    turns = [{"type": "counting", "question": "How many tanks?", "answer": "Four."}]
    kwargs = {"width": W, "height": H, "box_format": "norm01", "question_types": ["counting", "refusal"]}
    assert validate("conversation", {"turns": turns}, turns=1, **kwargs) == {"turns": turns}
    with pytest.raises(InvalidResponse, match="'turns' has 1 turns; exactly 2 are required"):
        validate("conversation", {"turns": turns}, turns=2, **kwargs)
    bad = [{"type": "counting", "question": "How many?", "answer": None}]
    with pytest.raises(InvalidResponse, match=r"turns\[0\].answer must be a non-empty string, got null"):
        validate("conversation", {"turns": bad}, turns=1, **kwargs)


def test_json_schemas_are_strict_objects():
    schema = json_schema("conversation", ["counting", "refusal"])
    turn = schema["properties"]["turns"]["items"]
    assert turn["properties"]["type"]["enum"] == ["counting", "refusal"]
    assert turn["additionalProperties"] is False and turn["required"] == ["type", "question", "answer"]
    local = json_schema("local", [])
    assert local["required"] == ["objects", "relations"]
    json.dumps(json_schema("global", []))
    with pytest.raises(ValueError, match="Unknown stage 'caption'"):
        json_schema("caption", [])
