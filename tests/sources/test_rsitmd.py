from __future__ import annotations

import pytest
from source_fixtures import generated

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import RSITMD


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "rsitmd", "RSITMD")


def test_blank_sentence_is_rejected_and_the_image_keeps_four(root):
    rejection, record = RSITMD().items(root, "train")
    assert isinstance(rejection, Rejection) and rejection.reason == "empty caption"
    assert rejection.key == "baseballfield_452.tif sentence 2" and rejection.split == "train"
    assert isinstance(record, Record) and len(record.references) == 4 and "" not in record.references
    assert record.image_path == "RSITMD/images/baseballfield_452.tif"


def test_only_train_and_test(root):
    assert RSITMD.splits == ("train", "test")
    (boat,) = RSITMD().items(root, "test")
    assert boat.references == ["A boat is on the sea."] * 5
