from __future__ import annotations

import collections
import json
import shutil

import pytest
from source_fixtures import DATA, fixture_module, write_image

from rsgpt4v import prompts
from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import Release, build_inputs
from rsgpt4v.sources.base import SourceFormatError, SourceNotFoundError

SAMPLE = DATA / "rsgpt4v_test_sample"


@pytest.fixture(scope="module")
def release_root(tmp_path_factory):
    """The real-format sample files plus stand-in images at every referenced path, and the train JSON fixture."""
    root = tmp_path_factory.mktemp("release")
    for path in SAMPLE.glob("*.jsonl"):
        shutil.copy(path, root)
        for line in path.read_text().splitlines():
            image = root / json.loads(line)["image"]
            if not image.exists():
                write_image(image, (12, 10))
    fixture_module("release").generate(root)
    return root


@pytest.fixture(scope="module")
def test_items(release_root):
    return list(Release().items(release_root, "test"))


def test_sample_reproduces_the_per_category_counts(test_items):
    assert all(isinstance(item, Record) for item in test_items)
    counts = collections.Counter(r.question_type or r.task for r in test_items)
    # tests/data/rsgpt4v_test_sample/README.md: categories and counts in this copy.
    assert counts == {
        "caption": 58 + 210 + 111 + 97,
        "presence": 81,
        "count": 75,
        "comp": 74,
        "rural_urban": 1,
        "detail": 97,
        "conversation": 112,
    }
    by_source = collections.Counter(r.source for r in test_items if r.task == "caption")
    assert by_source == {"sydney_captions": 58, "ucm_captions": 210, "rsicd": 111, "nwpu_captions": 97}
    assert {r.source for r in test_items if r.task == "vqa"} == {"rsvqa_lr"}
    assert {r.source for r in test_items if r.task in ("detail", "conversation")} == {"dior_rsvg"}


def test_sample_records_keep_the_release_values(test_items, release_root):
    first = next(r for r in test_items if r.question_id == "UCM-Captions/0")
    line = json.loads((SAMPLE / "UCM-Captions.jsonl").read_text().splitlines()[0])
    assert first.references == line["answer"] and first.image_path == "UCM_captions/imgs/81.tif"
    assert first.origin == "release" and first.split == "test" and (first.width, first.height) == (12, 10)
    assert first.image_file == str(release_root / "UCM_captions/imgs/81.tif")
    vqa = next(r for r in test_items if r.question_id == "RSVQA_LR/0")
    assert vqa.question == "Is it a rural or an urban area" and vqa.answer == "urban"
    double = [r for r in test_items if r.task == "vqa" and "  commercial" in r.question]
    assert double and all(not r.question.endswith(prompts.VQA_SUFFIX) for r in test_items if r.task == "vqa")
    nwpu = [ref for r in test_items if r.source == "nwpu_captions" for ref in r.references]
    assert any("\u200b\u200bdense" in ref for ref in nwpu)
    conv = next(r for r in test_items if r.question_id == "Conversation_Complex_Reasoning/0")
    assert conv.question.startswith("Can you tell me") and conv.image_path == "DIOR-RSVG/JPEGImages-test/18029.jpg"
    ids = [r.question_id for r in test_items]
    assert len(ids) == len(set(ids))


def test_train_json_is_classified_by_its_first_human_prompt(release_root):
    items = list(Release().items(release_root, "train"))
    records = {r.question_id: r for r in items if isinstance(r, Record)}
    assert records["rs_gpt4v_train/ucm_5"].task == "caption"
    assert records["rs_gpt4v_train/ucm_5"].references == ["There is a piece of farmland ."]
    assert records["rs_gpt4v_train/lr_7#0"].question == "Is there a road?"
    assert records["rs_gpt4v_train/lr_7#1"].answer == "12"
    assert records["rs_gpt4v_train/lr_7#1"].question_type == "unknown"
    grounding = records["rs_gpt4v_train/dior_3"]
    assert grounding.task == "grounding" and grounding.text == "the white storage tank on the left"
    assert grounding.bbox == pytest.approx((20.0, 10.0, 40.0, 30.0))  # norm01 on the padded 80x80 square
    assert records["rs_gpt4v_train/dior_3_detail"].task == "detail"
    chat = [records["rs_gpt4v_train/dior_3_chat#0"], records["rs_gpt4v_train/dior_3_chat#1"]]
    assert [c.task for c in chat] == ["conversation"] * 2 and chat[0].question == "What is on the left?"
    for record in records.values():
        record.validate()
    rejections = {r.key.split(" (id ")[1]: r.reason for r in items if isinstance(r, Rejection)}
    assert "does not start with a known source folder" in rejections["'rsitmd_boat')"]
    assert rejections["'dior_3_bad_box') turn 0"].startswith("grounding answer 'on the left side'")
    assert rejections["'ucm_5_orphan') turn 0"] == "answer without a question"


def _one_file(tmp_path, lines):
    (tmp_path / "X.jsonl").write_text("".join(line + "\n" for line in lines))
    return list(Release().items(tmp_path, "test"))


def test_bad_eval_lines(tmp_path):
    write_image(tmp_path / "RSICD/RSICD_images/a.jpg")
    line = {
        "question_id": 0,
        "image": "RSICD/RSICD_images/a.jpg",
        "text": "t",
        "answer": ["a ."],
        "category": "caption",
    }
    ok = json.dumps(line)
    with pytest.raises(SourceFormatError, match=r"X\.jsonl, line 2, column 2: malformed JSON"):
        _one_file(tmp_path, [ok, "{oops"])
    with pytest.raises(SourceFormatError, match=r"X\.jsonl, line 2: question_id 0 appears twice"):
        _one_file(tmp_path, [ok, ok])
    items = _one_file(
        tmp_path,
        [
            ok.replace("/a.jpg", "/gone.jpg"),
            ok.replace("RSICD/", "AID/").replace('"question_id": 0', '"question_id": 1'),
            ok.replace('["a ."]', '[""]').replace('"question_id": 0', '"question_id": 2'),
            json.dumps({**line, "question_id": 3, "text": "", "answer": "yes", "category": "presence"}),
            json.dumps({**line, "question_id": 4, "text": "q", "answer": "x", "category": "weird"}),
        ],
    )
    reasons = [r.reason for r in items]
    assert all(isinstance(r, Rejection) for r in items)
    assert reasons[0].startswith("image file not found") and "gone.jpg" in reasons[0]
    assert "does not start with a known source folder" in reasons[1]
    assert reasons[2] == "empty caption"
    assert reasons[3].startswith("answer without a question")
    assert reasons[4].startswith("unknown category 'weird'")


def test_missing_release_files(tmp_path):
    with pytest.raises(SourceNotFoundError, match=r"any \*\.jsonl"):
        Release().check(tmp_path)


def test_build_input_reads_both_splits(release_root):
    (inp,) = build_inputs({"release": release_root})
    items = list(inp.records())
    assert inp.name == "release" and len(inp.files) == 8
    assert collections.Counter(i.split for i in items) == {"test": 916, "train": 7 + 3}
