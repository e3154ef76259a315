from __future__ import annotations

import pytest
from source_fixtures import generated

from rsgpt4v.sources import SydneyCaptions


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "sydney_captions", "Sydney_captions")


def test_reads_every_split_with_padded_captions(root):
    by_split = {s: list(SydneyCaptions().items(root, s)) for s in SydneyCaptions.splits}
    assert {s: [r.image_path for r in items] for s, items in by_split.items()} == {
        "train": ["Sydney_captions/imgs/1.tif"],
        "val": ["Sydney_captions/imgs/2.tif"],
        "test": ["Sydney_captions/imgs/3.tif"],
    }
    train = by_split["train"][0]
    assert train.references[1] == "A residential area with many hosues arranged neatly ."  # typo kept
    assert len(train.references) == 5 and train.references[0] == train.references[2]
    assert (train.width, train.height) == (20, 20)
    assert by_split["test"][0].references == ["An industrial area with many white buildings ."] * 5
