from __future__ import annotations

import json

import pytest
from source_fixtures import generated

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import NWPUCaptions


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "nwpu_captions", "NWPU-Captions")


def test_category_keyed_json_and_the_missing_airplane_111(root):
    rejection, record = NWPUCaptions().items(root, "test")
    assert isinstance(rejection, Rejection) and rejection.key == "airplane/airplane_111.jpg"
    assert rejection.reason.startswith("image file not found") and "airplane_111.jpg" in rejection.reason
    assert isinstance(record, Record) and record.image_path == "NWPU-RESISC45/airplane/airplane_631.jpg"
    entry = json.loads((root / "dataset_nwpu.json").read_text())["airplane"][2]
    assert record.references == [entry[k] for k in ("raw", "raw_1", "raw_2", "raw_3", "raw_4")]


def test_splits_and_zero_width_spaces(root):
    (val,) = NWPUCaptions().items(root, "val")
    assert val.image_path == "NWPU-RESISC45/bare_land/bare_land_561.jpg"
    records = [r for s in NWPUCaptions.splits for r in NWPUCaptions().items(root, s) if isinstance(r, Record)]
    refs = [ref for r in records for ref in r.references]
    assert any("\u200b\u200bdense" in ref for ref in refs)


def test_raw_keys_are_ordered_by_number(tmp_path):
    (tmp_path / "NWPU_images" / "beach").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "NWPU_images" / "beach" / "beach_001.jpg")
    entry = {"filename": "beach_001.jpg", "split": "train", "raw_2": "c .", "raw": "a .", "raw_1": "b ."}
    (tmp_path / "dataset_nwpu.json").write_text(json.dumps({"beach": [entry]}))
    (record,) = NWPUCaptions().items(tmp_path, "train")
    assert record.references == ["a .", "b .", "c ."]
