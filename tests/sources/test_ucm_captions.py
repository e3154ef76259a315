from __future__ import annotations

import json

import pytest
from source_fixtures import fixture_module, generated, truncate

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import UCMCaptions
from rsgpt4v.sources.base import SourceFormatError, SourceNotFoundError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "ucm_captions", "UCM_captions")


@pytest.fixture
def fresh(tmp_path):
    fixture_module("ucm_captions").generate(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("split", "names"), [("train", ["1.tif", "2.tif"]), ("val", ["101.tif"]), ("test", ["81.tif", "102.tif"])]
)
def test_each_split_yields_one_caption_record_per_image(root, split, names):
    items = list(UCMCaptions().items(root, split))
    assert [r.image_path for r in items] == [f"UCM_captions/imgs/{n}" for n in names]
    data = json.loads((root / "dataset.json").read_text())
    raws = {e["filename"]: [s["raw"] for s in e["sentences"]] for e in data["images"]}
    for record in items:
        record.validate()
        name = record.image_path.rsplit("/", 1)[1]
        assert record.task == "caption" and record.source == "ucm_captions" and record.split == split
        assert record.references == raws[name] and len(record.references) == 5  # repeats kept, verbatim
        assert (record.width, record.height) == (16, 16) and record.image_file == str(root / "imgs" / name)
        assert record.origin == "legacy" and record.question_id is None


def test_images_folder_is_also_accepted(fresh):
    (fresh / "imgs").rename(fresh / "images")
    assert len(list(UCMCaptions().items(fresh, "train"))) == 2


def test_missing_image_and_truncated_image_are_rejected(fresh):
    (fresh / "imgs" / "1.tif").unlink()
    truncate(fresh / "imgs" / "2.tif")
    rejections = list(UCMCaptions().items(fresh, "train"))
    assert all(isinstance(r, Rejection) for r in rejections)
    assert [r.key for r in rejections] == ["1.tif", "2.tif"]
    assert rejections[0].reason.startswith("image file not found") and rejections[0].task == "caption"
    assert rejections[1].reason.startswith("truncated TIFF")


def test_empty_caption_is_rejected_and_the_rest_kept(fresh):
    data = json.loads((fresh / "dataset.json").read_text())
    data["images"][0]["sentences"][1]["raw"] = "   "
    (fresh / "dataset.json").write_text(json.dumps(data))
    items = list(UCMCaptions().items(fresh, "train"))
    assert isinstance(items[0], Rejection) and items[0].reason == "empty caption"
    assert items[0].key == "1.tif sentence 1"
    assert isinstance(items[1], Record) and len(items[1].references) == 4


def test_malformed_json_and_duplicates_are_errors(fresh):
    path = fresh / "dataset.json"
    text = path.read_text()
    path.write_text(text.replace('"imgid": 1,', '"imgid": 1', 1))
    with pytest.raises(SourceFormatError, match=r"dataset\.json: malformed JSON at line 1, column \d+"):
        list(UCMCaptions().items(fresh, "train"))
    data = json.loads(text)
    data["images"][1]["filename"] = "1.tif"
    path.write_text(json.dumps(data))
    with pytest.raises(SourceFormatError, match=r"filename '1\.tif' appears twice in split 'train'"):
        list(UCMCaptions().items(fresh, "train"))


def test_missing_annotation_file_names_it(fresh):
    (fresh / "dataset.json").unlink()
    with pytest.raises(SourceNotFoundError, match=r"the caption annotation file \('dataset\.json'\)"):
        list(UCMCaptions().items(fresh, "train"))
