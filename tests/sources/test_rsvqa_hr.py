from __future__ import annotations

import collections

import pytest
from source_fixtures import generated

from rsgpt4v.schema import Record
from rsgpt4v.sources import RSVQAHR


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "rsvqa_hr", "RSVQA_HR")


def test_four_splits_including_test_phili(root):
    counts = {s: collections.Counter(type(r) for r in RSVQAHR().items(root, s)) for s in RSVQAHR.splits}
    assert counts == {s: {Record: n} for s, n in {"train": 10, "val": 5, "test": 5, "test_phili": 5}.items()}
    (phili,) = {r.image_path for r in RSVQAHR().items(root, "test_phili")}
    assert phili == "RSVQA_HR/Data/4.tif"


def test_area_answers_types_and_png_images(root):
    items = [r for s in RSVQAHR.splits for r in RSVQAHR().items(root, s)]
    assert {r.question_type for r in items} == {"presence", "count", "comp", "area"}
    assert {r.answer for r in items if r.question_type == "area"} <= {"10632m2", "0m2", "348m2"}
    assert any(r.answer.endswith("m2") for r in items)
    val = [r for r in items if r.split == "val"]
    assert {r.image_path for r in val} == {"RSVQA_HR/Data/2.png"} and val[0].image_file.endswith("Data/2.png")
    assert [r.question_id for r in val] == [f"rsvqa_hr/{q}" for q in range(10, 15)]
