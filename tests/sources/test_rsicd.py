from __future__ import annotations

import pytest
from source_fixtures import fixture_module, generated, truncate

from rsgpt4v.schema import Rejection
from rsgpt4v.sources import RSICD


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "rsicd", "RSICD")


def test_annotation_in_subfolder_and_raw_captions_verbatim(root):
    (train,) = RSICD().items(root, "train")
    assert train.image_path == "RSICD/RSICD_images/airport_1.jpg"
    assert train.references[0] == "Many aircraft are parked next to a long building in an airport."  # raw, not tokens
    (test,) = RSICD().items(root, "test")
    assert test.image_path == "RSICD/RSICD_images/00001.jpg" and test.references[0] == "  there are some buildings ."
    assert (test.width, test.height) == (24, 24)


def test_truncated_and_undecodable_jpegs_are_rejected(tmp_path):
    fixture_module("rsicd").generate(tmp_path)
    truncate(tmp_path / "RSICD_images" / "airport_1.jpg", 0.7)
    (tmp_path / "RSICD_images" / "00001.jpg").write_bytes(b"\x00garbage" * 50)
    (train,) = RSICD().items(tmp_path, "train")
    (test,) = RSICD().items(tmp_path, "test")
    assert isinstance(train, Rejection) and train.reason.startswith("truncated JPEG")
    assert isinstance(test, Rejection) and test.reason.startswith("undecodable image")
