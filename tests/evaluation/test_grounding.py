from __future__ import annotations

import numpy as np
import pytest

from rsgpt4v.boxes import Box, encode
from rsgpt4v.evaluation import box_iou, grounding_scores


def test_box_iou_without_plus_one():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # touching edges share no area
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert box_iou([5, 5, 5, 5], [5, 5, 5, 5]) == 0.0  # zero-area guard: no division by zero


def _item(qid, bbox, width=200, height=100):
    return {"question_id": qid, "bbox": bbox, "width": width, "height": height}


def test_thresholds_are_inclusive_and_padding_is_undone():
    # A 200x100 image padded to 200x200: norm01 y values are shifted by 50 px of padding.
    gt = [20.0, 10.0, 100.0, 90.0]
    exact = encode(Box(*gt), "norm01", width=200, height=100)
    half = [20.0, 10.0, 60.0, 90.0]  # IoU exactly 0.5 with gt
    items = [_item("exact", gt), _item("half", gt), _item("half_grid", gt)]
    preds = {
        "exact": f"The box is {exact}.",
        "half": encode(Box(*half), "norm01", width=200, height=100),
        "half_grid": encode(Box(*half), "grid1000", width=200, height=100),
    }
    report = grounding_scores(preds, items)
    assert report.ious[0] == pytest.approx(1.0)
    assert report.ious[1] == pytest.approx(0.5)
    assert report.acc_at(0.5) == 1.0  # >= 0.5
    assert report.acc_at(0.7) == pytest.approx(1 / 3)
    summary = report.summary()
    assert summary["Acc@0.25"] == 1.0 and summary["Acc@0.7"] == pytest.approx(1 / 3)
    assert summary["mIoU"] == pytest.approx(float(np.mean(report.ious)))


def test_parse_failures_multi_box_and_missing_predictions():
    gt = [0.0, 0.0, 100.0, 100.0]
    items = [_item(q, gt, 100, 100) for q in ("none", "bad", "two", "missing", "grid")]
    preds = {
        "none": "I cannot find it.",
        "bad": "[0.5, 0.2, 0.1, 0.9]",  # x2 < x1
        "two": "[0.00, 0.00, 1.00, 1.00] and [0.5, 0.5, 0.6, 0.6]",  # first box scored
        "grid": "{<0><0><100><100>|<30>}",
    }
    report = grounding_scores(preds, items)
    assert report.parse_failures == 2
    assert report.multi_box == 1
    assert report.missing == ["missing"]
    assert list(report.ious) == pytest.approx([0.0, 0.0, 1.0, 0.0, 1.0])
    assert report.parse_failure_rate == pytest.approx(2 / 4)
    assert [q for q, _ in report.failure_examples] == ["none", "bad"]
    assert "no norm01/grid100/grid1000 box" in report.failure_examples[0][1]


def test_box_format_restricts_the_search():
    items = [_item("a", [0.0, 0.0, 100.0, 100.0], 100, 100)]
    assert grounding_scores({"a": "{<0><0><100><100>}"}, items, box_format="norm01").parse_failures == 1
    pixel = grounding_scores({"a": "[0, 0, 100, 100]"}, items, box_format="pixel", pad_to_square=False)
    assert pixel.ious[0] == pytest.approx(1.0)


def test_unknown_box_format_is_an_error():
    with pytest.raises(ValueError, match="xyxy_percent"):
        grounding_scores({}, [_item("a", [0, 0, 1, 1])], box_format="xyxy_percent")


@pytest.mark.parametrize(
    ("items", "preds", "match"),
    [
        ([_item("a", [0, 0, 1, 1])], {"b": "[0.1, 0.1, 0.2, 0.2]"}, r"not in the items.*'b'"),
        ([_item("a", [0, 0, 1, 1]), _item("a", [0, 0, 1, 1])], {}, "'a' occurs twice"),
        ([{"question_id": "a", "bbox": [0, 0, 1, 1]}], {}, "has no 'width'"),
        ([_item("a", [0, 0, 1])], {}, "field 'bbox'"),
    ],
)
def test_bad_input(items, preds, match):
    with pytest.raises(ValueError, match=match):
        grounding_scores(preds, items)
