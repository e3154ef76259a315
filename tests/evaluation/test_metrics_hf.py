"""The evaluate.Metric wrappers work offline, directly and through evaluate.load(<path>)."""

from __future__ import annotations

import evaluate
import pytest

from rsgpt4v.evaluation import (
    RSCaptionMetric,
    RSGroundingMetric,
    RSVQAMetric,
    caption_scores,
    metric_path,
)

PREDS = ["a plane is parked on the runway", "green trees"]
REFS = [["A plane is parked on the runway.", "A white plane on the runway ."], ["Many green trees."]]


def test_caption_metric_direct_and_loaded_agree_with_caption_scores():
    expected = caption_scores(
        {"0": PREDS[0], "1": PREDS[1]}, {"0": REFS[0], "1": REFS[1]}, tokenize=True, meteor=False
    )
    assert RSCaptionMetric().compute(predictions=PREDS, references=REFS, meteor=False) == expected
    loaded = evaluate.load(metric_path("rs_caption"))
    assert isinstance(loaded, RSCaptionMetric)
    loaded.add_batch(predictions=PREDS[:1], references=REFS[:1])
    loaded.add_batch(predictions=PREDS[1:], references=REFS[1:])
    assert loaded.compute(meteor=False) == expected


def test_vqa_metric():
    kwargs = dict(predictions=["Yes.", "three", "7"], references=["yes", "3", "8"])
    out = RSVQAMetric().compute(**kwargs, question_types=["presence", "count", "count"])
    assert out["overall"] == pytest.approx(2 / 3)
    assert out["overall_without_count"] == 1.0 and out["accuracy_count"] == 0.5
    loaded = evaluate.load(metric_path("rs_vqa"))
    assert loaded.compute(**kwargs)["overall"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="question_types"):
        RSVQAMetric().compute(**kwargs, question_types=["presence"])


def test_grounding_metric():
    kwargs = dict(predictions=["[0.00, 0.00, 0.50, 0.50]", "no box"], references=[[0, 0, 50, 50], [0, 0, 10, 10]])
    out = evaluate.load(metric_path("rs_grounding")).compute(**kwargs, widths=[100, 100], heights=[100, 100])
    assert out["Acc@0.5"] == 0.5 and out["parse_failure_rate"] == 0.5 and out["mIoU"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="image size"):
        RSGroundingMetric().compute(**kwargs, widths=[100], heights=[100])


def test_metric_path_rejects_unknown_names():
    with pytest.raises(ValueError, match="rs_caption, rs_vqa, rs_grounding"):
        metric_path("bleu")
