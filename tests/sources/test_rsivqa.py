from __future__ import annotations

import collections

import pytest
from source_fixtures import fixture_module

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import RSIVQA, build_inputs
from rsgpt4v.sources.base import SourceNotFoundError
from rsgpt4v.sources.rsivqa import hrrsd_split, question_type


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("rsivqa")
    fixture_module("rsivqa").generate(root)
    return root


def _roots(out):
    return {
        "ucm": out / "UCM_captions",
        "sydney": out / "Sydney_captions",
        "rsicd": out / "RSICD",
        "dota": out / "DOTA",
        "hrrsd": out / "HRRSD",
    }


@pytest.fixture(scope="module")
def by_split(out):
    adapter = RSIVQA(image_roots=_roots(out))
    return {s: list(adapter.items(out / "RSIVQA", s)) for s in RSIVQA.splits}


def test_images_take_their_parents_split(by_split):
    paths = {
        s: collections.Counter(r.image_path for r in items if isinstance(r, Record)) for s, items in by_split.items()
    }
    assert paths["train"] == {
        "UCM_captions/imgs/1.tif": 4,
        "RSICD/RSICD_images/00433.jpg": 1,
        "DOTA/train/images/P0000.png": 1,
        **{f"HRRSD/JPEGImages/0000{k}.jpg": 1 for k in (1, 2) if hrrsd_split(f"0000{k}") == "train"},
    }
    assert paths["val"] == {
        "UCM_captions/imgs/101.tif": 1,
        "RSICD/RSICD_images/playground_98.jpg": 1,
        **{f"HRRSD/JPEGImages/0000{k}.jpg": 1 for k in (1, 2) if hrrsd_split(f"0000{k}") == "val"},
    }
    assert paths["test"] == {
        "UCM_captions/imgs/10.tif": 1,
        "Sydney_captions/imgs/3.tif": 1,
        "DOTA/val/images/P0003.png": 2,
        **{f"HRRSD/JPEGImages/0000{k}.jpg": 1 for k in (1, 2) if hrrsd_split(f"0000{k}") == "test"},
    }


def test_lines_are_parsed_verbatim_with_types(by_split):
    records = [r for items in by_split.values() for r in items if isinstance(r, Record)]
    for record in records:
        record.validate()
        assert record.question_id is None and (record.width, record.height) == (12, 10)
    qa = {(r.image_path, r.question): (r.answer, r.question_type) for r in records}
    assert qa[("UCM_captions/imgs/10.tif", "What is the location of the  in this picture?")] == (
        "i cannot see it",
        "other",
    )
    assert qa[("UCM_captions/imgs/1.tif", "How many trees in the picture?")] == ("one", "number")
    assert qa[("DOTA/val/images/P0003.png", "how many small vehicles are there in this picture?")] == ("15", "number")
    assert qa[("DOTA/val/images/P0003.png", "does this picture contain plane?")] == ("no", "yes_no")
    assert qa[("RSICD/RSICD_images/playground_98.jpg", "how many  in the picture?")] == ("2", "number")


def test_bad_lines_are_rejected_once(by_split):
    rejected = [(r.key, r.reason) for items in by_split.values() for r in items if isinstance(r, Rejection)]
    assert rejected[:3] == [
        ("UCM/ucm_res.txt:5", "question without an answer"),
        ("UCM/ucm_res.txt:6", "answer without a question"),
        ("UCM/ucm_res.txt:7", "malformed line; expected <image>:<question>?<answer>"),
    ]
    assert rejected[3][0] == "UCM/ucm_res.txt:8" and "'999.tif' is not listed in" in rejected[3][1]
    assert len(rejected) == 4


def test_parent_without_image_root_rejects_its_lines(out):
    roots = _roots(out)
    del roots["dota"]
    items = list(RSIVQA(image_roots=roots).items(out / "RSIVQA", "train"))
    dota = [r for r in items if isinstance(r, Rejection) and r.key.startswith("DOTA/")]
    assert [r.key for r in dota] == [
        "DOTA/dota_train_vqa2.txt:1",
        "DOTA/dota_val_vqa2.txt:1",
        "DOTA/dota_val_vqa2.txt:2",
    ]
    assert {r.reason for r in dota} == {"no image root for parent dataset 'dota': pass --image-root dota=DIR"}


def test_missing_parent_image_is_rejected_in_its_split(out, tmp_path):
    roots = _roots(out)
    roots["hrrsd"] = tmp_path  # no images there
    items = [r for s in RSIVQA.splits for r in RSIVQA(image_roots=roots).items(out / "RSIVQA", s)]
    hrrsd = [r for r in items if isinstance(r, Rejection) and r.key.startswith("HRRSD/")]
    assert [(r.key, r.split) for r in hrrsd] == sorted(
        [("HRRSD/opt_val_vqa.txt:1", hrrsd_split("00001")), ("HRRSD/opt_val_vqa.txt:2", hrrsd_split("00002"))]
    )
    assert all(r.reason.startswith("image file not found") for r in hrrsd)


def test_split_rule_and_question_types():
    splits = collections.Counter(hrrsd_split(f"{k:05d}") for k in range(1, 5001))
    assert abs(splits["train"] / 5000 - 0.8) < 0.03 and abs(splits["val"] / 5000 - 0.1) < 0.02
    assert hrrsd_split("00001") == hrrsd_split("00001")
    assert [question_type(a) for a in ("Yes", "no ", "21", "zero", "center", "i cannot see it")] == [
        "yes_no",
        "yes_no",
        "number",
        "number",
        "other",
        "other",
    ]


def test_build_input_passes_image_roots(out):
    (inp,) = build_inputs({"rsivqa": out / "RSIVQA"}, {k: str(v) for k, v in _roots(out).items()})
    assert inp.options["image_roots"]["dota"] == str(out / "DOTA") and len(inp.files) == 7
    assert sum(isinstance(r, Record) for r in inp.records()) == 18 - 4  # every line but the four bad ones


def test_check_verifies_parent_roots(out, tmp_path):
    roots = _roots(out)
    roots["ucm"] = tmp_path
    expected = r"(?s)UCM-Captions \(ucm_captions\) not found.*dataset\.json.*--image-root ucm=DIR"
    with pytest.raises(SourceNotFoundError, match=expected):
        RSIVQA(image_roots=roots).check(out / "RSIVQA")
    roots = {**_roots(out), "dota": tmp_path / "nowhere"}
    with pytest.raises(SourceNotFoundError, match=r"the dota image root .*nowhere \(--image-root dota=DIR\)"):
        RSIVQA(image_roots=roots).check(out / "RSIVQA")
    (out / "RSIVQA" / "DOTA" / "dota_val_vqa2.txt").rename(tmp_path / "moved.txt")
    try:
        with pytest.raises(SourceNotFoundError, match=r"the dota question file \('DOTA/dota_val_vqa2\.txt'\)"):
            RSIVQA(image_roots=_roots(out)).check(out / "RSIVQA")
    finally:
        (tmp_path / "moved.txt").rename(out / "RSIVQA" / "DOTA" / "dota_val_vqa2.txt")
