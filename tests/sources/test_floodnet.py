from __future__ import annotations

import json

import pytest
from source_fixtures import fixture_module, generated

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import FloodNet
from rsgpt4v.sources.base import SourceFormatError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "floodnet", "FloodNet Challenge @ EARTHVISION 2021 - Track 2")


@pytest.fixture
def fresh(tmp_path):
    fixture_module("floodnet").generate(tmp_path)
    return tmp_path


def test_train_answers_are_strings_verbatim(root):
    items = list(FloodNet().items(root, "train"))
    assert [(r.question_id, r.answer, r.question_type) for r in items] == [
        ("floodnet/0", "non flooded", "condition_recognition"),
        ("floodnet/1", "Yes", "yes_no"),
        ("floodnet/2", "4", "simple_counting"),
        ("floodnet/3", "0", "complex_counting"),
        ("floodnet/4", "flooded,non flooded", "condition_recognition"),
    ]
    for record in items:
        record.validate()
        assert (record.width, record.height) == (40, 30)
    assert items[0].image_path == "FloodNet/Images/Train_Image/10170.JPG"


def test_val_and_test_have_no_public_answer(root):
    for split, n in (("val", 1), ("test", 2)):
        items = list(FloodNet().items(root, split))
        assert len(items) == n and all(isinstance(r, Record) and r.answer is None for r in items)
        for record in items:
            record.validate()
    assert list(FloodNet().items(root, "test"))[0].image_path == "FloodNet/Images/Test_Image/6651.JPG"


def test_underscore_file_names_are_accepted(fresh):
    (fresh / "Questions" / "Training Question.json").rename(fresh / "Questions" / "Training_Question.json")
    assert len(list(FloodNet().items(fresh, "train"))) == 5


def test_bad_items_are_rejected(fresh):
    path = fresh / "Questions" / "Training Question.json"
    data = json.loads(path.read_text())
    data["0"]["Question"] = ""
    data["1"]["Question_Type"] = "Color"
    data["2"]["Image_ID"] = "missing.JPG"
    path.write_text(json.dumps(data))
    rejected = {r.key: r.reason for r in FloodNet().items(fresh, "train") if isinstance(r, Rejection)}
    assert rejected["question 0"] == "answer without a question"
    assert rejected["question 1"].startswith("unknown Question_Type 'Color'")
    assert rejected["question 2"].startswith("image file not found") and "missing.JPG" in rejected["question 2"]


def test_duplicate_question_ids_are_an_error(fresh):
    path = fresh / "Questions" / "Valid Question.json"
    path.write_text('{"5": {"Image_ID": "7606.JPG"}, "5": {"Image_ID": "7606.JPG"}}')
    with pytest.raises(SourceFormatError, match=r"Valid Question\.json: key '5' appears twice"):
        list(FloodNet().items(fresh, "val"))
