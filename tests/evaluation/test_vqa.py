from __future__ import annotations

import pytest

from rsgpt4v.evaluation import area_bucket, normalize_answer, vqa_scores


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Yes.", "yes"),
        ("  YES  ", "yes"),
        ("yeah", "yes"),
        ("Yes, there is a road.", "yes"),
        ("nope", "no"),
        ("No!", "no"),
        ("'urban'", "urban"),
        ("three", "3"),
        ("Twenty.", "20"),
        ("one hundred", "100"),
        ("1,000", "1000"),
        ("403", "403"),
        ("none", "none"),
        ("true", "true"),
        ("a  large\tlake", "a large lake"),
        ("the lake", "the lake"),
        ("\uff11\uff12", "12"),  # full-width digits (NFKC)
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize(
    ("answer", "bucket"),
    [
        ("0m2", "0m2"),
        ("1m2", "between 0m2 and 10m2"),
        ("10m2", "between 0m2 and 10m2"),
        ("11m2", "between 10m2 and 100m2"),
        ("100m2", "between 10m2 and 100m2"),
        ("101 m2", "between 100m2 and 1000m2"),
        ("1000m2", "between 100m2 and 1000m2"),
        ("10632m2", "more than 1000m2"),
        ("10,632 m²", "more than 1000m2"),
        ("Between 10m2 and 100m2.", "between 10m2 and 100m2"),
        ("a lot", "a lot"),
    ],
)
def test_area_bucket(answer, bucket):
    assert area_bucket(answer) == bucket


ITEMS = [
    {"question_id": "q1", "answer": "yes", "question_type": "presence"},
    {"question_id": "q2", "answer": "no", "question_type": "presence"},
    {"question_id": "q3", "answer": "3", "question_type": "count"},
    {"question_id": "q4", "answer": "10632m2", "question_type": "area"},
    {"question_id": "q5", "answer": "urban", "question_type": "rural_urban"},
    {"question_id": "q6", "answer": None, "question_type": "yes_no"},
    {"question_id": "q7", "answer": "12", "question_type": 2},  # ClassLabel index of "count"
]


def test_per_type_accounting():
    preds = {"q1": "Yes.", "q2": "yes", "q3": "three", "q4": "5000m2", "q6": "yes", "q7": "11"}
    report = vqa_scores(preds, ITEMS)
    assert report.per_type == {
        "area": {"correct": 1, "total": 1, "accuracy": 1.0},
        "count": {"correct": 1, "total": 2, "accuracy": 0.5},
        "presence": {"correct": 1, "total": 2, "accuracy": 0.5},
        "rural_urban": {"correct": 0, "total": 1, "accuracy": 0.0},
    }
    assert report.scored == 6 and report.no_public_answer == 1
    assert report.missing == ["q5"]  # counted wrong, reported
    assert report.overall == pytest.approx(3 / 6)
    assert report.overall_without_count == pytest.approx(2 / 4)
    assert report.average == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)


def test_only_count_questions_has_no_overall_without_count():
    report = vqa_scores({"a": "2"}, [{"question_id": "a", "answer": "2", "question_type": "count"}])
    assert report.overall == 1.0 and report.overall_without_count is None


def test_unknown_prediction_ids_are_an_error():
    with pytest.raises(ValueError, match=r"not in the items.*'zz'"):
        vqa_scores({"q1": "yes", "zz": "no"}, ITEMS)


def test_duplicate_question_ids_are_an_error():
    with pytest.raises(ValueError, match="'q1' occurs twice"):
        vqa_scores({}, [ITEMS[0], ITEMS[0]])


@pytest.mark.parametrize(
    ("item", "pred", "match"),
    [
        ({"answer": "yes", "question_type": "presence"}, {}, "has no 'question_id'"),
        ({"question_id": "a", "answer": 3, "question_type": "count"}, {}, "field 'answer' is 3"),
        ({"question_id": "a", "answer": "yes", "question_type": ""}, {}, "question_type"),
        ({"question_id": "a", "answer": "yes", "question_type": "presence"}, {"a": None}, "must be a string"),
    ],
)
def test_malformed_items_and_predictions(item, pred, match):
    with pytest.raises(ValueError, match=match):
        vqa_scores(pred, [item])
