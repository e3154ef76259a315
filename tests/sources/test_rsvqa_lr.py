from __future__ import annotations

import json

import pytest
from source_fixtures import fixture_module, generated, truncate

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import RSVQALR
from rsgpt4v.sources.base import SourceFormatError, SourceNotFoundError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "rsvqa_lr", "RSVQA_LR")


@pytest.fixture
def fresh(tmp_path):
    fixture_module("rsvqa_lr").generate(tmp_path)
    return tmp_path


def _expected(split):
    """(question id, image id, type, question, answer) of the split's active questions, from the fixture's DB."""
    module = fixture_module("rsvqa_lr")
    db = module.database()
    out, qid = [], 0
    for image_id, entry in enumerate(db):
        for qtype, question, answer in entry["questions"]:
            if image_id in module.SPLITS[split]:
                out.append((qid, image_id, qtype, question, answer))
            qid += 1
    return out


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_one_record_per_active_question(root, split):
    items = list(RSVQALR().items(root, split))
    assert all(isinstance(r, Record) for r in items)
    got = [(r.question_id, r.image_path, r.question_type, r.question, r.answer) for r in items]
    assert got == [
        (f"rsvqa_lr/{q}", f"RSVQA_LR/Images_LR/{i}.tif", t, text, a) for q, i, t, text, a in _expected(split)
    ]
    for record in items:
        record.validate()
        assert record.task == "vqa" and record.split == split and (record.width, record.height) == (16, 16)


def test_quirks_are_kept_verbatim(root):
    items = [r for s in RSVQALR.splits for r in RSVQALR().items(root, s)]
    assert "Is it a rural or an urban area" in {r.question for r in items}  # no question mark
    assert any("a  commercial building" in r.question for r in items)  # double space
    assert all(isinstance(r.answer, str) for r in items)


def test_placeholders_do_not_count_and_ids_equal_positions(root):
    questions = json.loads((root / "LR_split_test_questions.json").read_text())["questions"]
    assert questions[0] == {"id": 0, "active": False}
    assert all(q["id"] == k for k, q in enumerate(questions))


def test_ids_are_looked_up_when_positions_differ(fresh):
    for kind in ("questions", "answers"):
        path = fresh / f"LR_split_train_{kind}.json"
        data = json.loads(path.read_text())
        data[kind].reverse()
        path.write_text(json.dumps(data))
    items = list(RSVQALR().items(fresh, "train"))
    assert [(r.question_id, r.answer) for r in items] == [(f"rsvqa_lr/{q}", a) for q, _, _, _, a in _expected("train")]


def test_every_question_of_a_broken_image_is_rejected_with_one_reason(fresh):
    (fresh / "Images_LR" / "0.tif").unlink()
    truncate(fresh / "Images_LR" / "2.tif")
    items = list(RSVQALR().items(fresh, "train"))
    rejected = [r for r in items if isinstance(r, Rejection)]
    per_image = {
        0: [q for q, i, *_ in _expected("train") if i == 0],
        2: [q for q, i, *_ in _expected("train") if i == 2],
    }
    assert [r.key for r in rejected] == [f"question {q}" for q in per_image[0] + per_image[2]]
    reasons_0 = {r.reason for r in rejected[: len(per_image[0])]}
    assert len(reasons_0) == 1 and reasons_0.pop().startswith("image file not found")
    reasons_2 = {r.reason for r in rejected[len(per_image[0]) :]}
    assert len(reasons_2) == 1 and reasons_2.pop().startswith("truncated TIFF")
    assert all(r.task == "vqa" and r.split == "train" for r in rejected)


def test_answer_without_question_and_question_without_answer(fresh):
    apath, qpath = fresh / "LR_split_train_answers.json", fresh / "LR_split_train_questions.json"
    answers, questions = json.loads(apath.read_text()), json.loads(qpath.read_text())
    first = _expected("train")[0][0]
    questions["questions"][first]["answers_ids"] = []
    answers["answers"].append({"id": len(answers["answers"]), "question_id": 999, "answer": "yes", "active": True})
    apath.write_text(json.dumps(answers))
    qpath.write_text(json.dumps(questions))
    rejected = [r for r in RSVQALR().items(fresh, "train") if isinstance(r, Rejection)]
    assert [(r.key, r.reason) for r in rejected] == [
        (f"question {first}", "question without an answer"),
        (f"answer {first}", "answer without a question"),
        (f"answer {len(answers['answers']) - 1}", "answer without a question"),
    ]


def test_unknown_type_and_empty_question_are_rejected(fresh):
    qpath = fresh / "LR_split_train_questions.json"
    questions = json.loads(qpath.read_text())
    q0, q1 = (q for q, *_ in _expected("train")[:2])
    questions["questions"][q0]["type"] = "comparison"
    questions["questions"][q1]["question"] = " "
    qpath.write_text(json.dumps(questions))
    rejected = {r.key: r.reason for r in RSVQALR().items(fresh, "train") if isinstance(r, Rejection)}
    assert rejected[f"question {q0}"].startswith("unknown question type 'comparison'")
    assert rejected[f"question {q1}"] == "empty question"


def test_duplicate_question_id_and_malformed_json_are_errors(fresh):
    ipath = fresh / "LR_split_train_images.json"
    images = json.loads(ipath.read_text())
    active = [i for i in images["images"] if i["active"]]
    active[1]["questions_ids"].append(active[0]["questions_ids"][0])
    ipath.write_text(json.dumps(images))
    with pytest.raises(SourceFormatError, match=r"question id \d+ is listed twice"):
        list(RSVQALR().items(fresh, "train"))
    (fresh / "LR_split_val_answers.json").write_text('{"answers": [\n{"id": 0 "active": false}]}')
    with pytest.raises(SourceFormatError, match=r"LR_split_val_answers\.json: malformed JSON at line 2, column 10"):
        list(RSVQALR().items(fresh, "val"))


def test_missing_split_file_is_named(fresh):
    (fresh / "LR_split_test_answers.json").unlink()
    with pytest.raises(SourceNotFoundError, match=r"the test answers file \('LR_split_test_answers\.json'\)"):
        list(RSVQALR().items(fresh, "test"))
    assert list(RSVQALR().items(fresh, "val"))  # other splits still read
    with pytest.raises(SourceNotFoundError, match="Expected layout"):
        RSVQALR().check(fresh)
