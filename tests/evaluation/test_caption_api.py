from __future__ import annotations

import pytest

from rsgpt4v.evaluation import caption_report, caption_scores
from rsgpt4v.evaluation.caption import CAPTION_METRICS, SPICE_NOTE

REFS = {"img1": ["A plane is parked on the runway.", "A white plane on the runway ."], "img2": ["Many green trees."]}


def test_keys_follow_pycocoevalcap():
    scores = caption_scores({"img1": "a plane on the runway", "img2": "green trees"}, REFS, meteor=False)
    assert list(scores) == [k for k in CAPTION_METRICS if k != "METEOR"]
    assert all(0 <= v for v in scores.values())


def test_tokenize_option_changes_the_tokens():
    preds = {"img1": "A plane is parked on the runway.", "img2": "Many green trees."}
    tokenized = caption_scores(preds, REFS, tokenize=True, meteor=False)
    raw = caption_scores(preds, REFS, tokenize=False, meteor=False)
    assert tokenized["Bleu_1"] == pytest.approx(1.0)  # "runway." and "runway" both become "runway"
    assert raw["Bleu_1"] < 1.0


def test_unknown_prediction_ids_are_an_error():
    with pytest.raises(ValueError, match=r"no references, e\.g\. \['img9'\]"):
        caption_scores({"img1": "a", "img2": "b", "img9": "c"}, REFS, meteor=False)


def test_missing_predictions_error_or_count_as_empty():
    with pytest.raises(ValueError, match=r"have no prediction, e\.g\. \['img2'\].*missing='empty'"):
        caption_scores({"img1": "a plane"}, REFS, meteor=False)
    report = caption_report({"img1": "a plane is parked on the runway"}, REFS, meteor=False, missing="empty")
    assert report.missing == ["img2"]
    full = caption_report({"img1": "a plane is parked on the runway", "img2": "many green trees"}, REFS, meteor=False)
    assert report.scores["Bleu_1"] < full.scores["Bleu_1"]
    assert report.notes == [SPICE_NOTE] and "SPICE" in SPICE_NOTE
    assert report.options["tokenize"] == "ptb+punctuation-removal"


@pytest.mark.parametrize(
    ("preds", "refs", "match"),
    [
        ({"a": 3}, {"a": ["x"]}, "must be a string"),
        ({"a": "x"}, {"a": []}, "non-empty list"),
        ({"a": "x"}, {"a": "x y"}, "non-empty list"),
    ],
)
def test_malformed_input(preds, refs, match):
    with pytest.raises(ValueError, match=match):
        caption_scores(preds, refs, meteor=False)


def test_bad_missing_option():
    with pytest.raises(ValueError, match="'error' or 'empty'"):
        caption_report({}, REFS, meteor=False, missing="skip")
