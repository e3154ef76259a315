from __future__ import annotations

import argparse
import json

import pytest

from rsgpt4v import predict as predict_command
from rsgpt4v.data import items, load
from rsgpt4v.predict import llava_path, predict
from rsgpt4v.predictions import PredictionFormatError, read_predictions


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _question_ids(build, config, split="test"):
    import datasets

    ds = load(config, split, path=build).cast_column("image", datasets.Image(decode=False))
    return [item["question_id"] for item in items(ds)]


def test_predict_writes_one_line_per_item(tmp_path, synthetic_build, predictor):
    out = tmp_path / "vqa.jsonl"
    summary = predict(predictor, synthetic_build, "vqa", "test", out, limit=10, progress=False, llava_format=True)
    expected = _question_ids(synthetic_build, "vqa")[:10]
    lines = _lines(out)
    assert [line["question_id"] for line in lines] == expected
    assert summary.items == summary.written == len(expected) > 0 and summary.skipped == 0
    first = lines[0]
    assert first["config"] == first["task"] == "vqa" and first["split"] == "test" and first["source"] == "synthetic"
    assert first["id"].endswith("/vqa") and first["prompt"].endswith("using a single word or phrase.")
    assert first["model_id"] == str(predictor.model_id) and first["adapter_id"] is None
    assert first["settings"] == {**predictor.settings, "conversation_history": False}
    llava = _lines(llava_path(out))
    assert llava_path(out).name == "vqa.llava.jsonl"
    assert [a["question_id"] for a in llava] == expected
    assert set(llava[0]) == {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}
    assert llava[0]["text"] == first["text"] and llava[0]["metadata"]["id"] == first["id"]
    # the same item in a batch of 4 or alone gives the same text
    single = predict(predictor, synthetic_build, "vqa", "test", tmp_path / "one.jsonl", limit=3, progress=False)
    assert single.written == 3
    assert [line["text"] for line in _lines(tmp_path / "one.jsonl")] == [line["text"] for line in lines[:3]]


def test_resume_skips_written_items_and_repairs_a_truncated_tail(tmp_path, synthetic_build, predictor):
    out = tmp_path / "grounding.jsonl"
    first = predict(predictor, synthetic_build, "grounding", "test", out, limit=5, progress=False)
    assert (first.items, first.written) == (5, 5)
    full = out.read_text()
    # an interrupted writer leaves half a line behind
    out.write_text(full + full.splitlines()[0][:25])
    again = predict(predictor, synthetic_build, "grounding", "test", out, progress=False)
    expected = _question_ids(synthetic_build, "grounding")
    assert again.skipped == 5 and again.written == len(expected) - 5
    assert [line["question_id"] for line in _lines(out)] == expected
    assert predict(predictor, synthetic_build, "grounding", "test", out, progress=False).written == 0
    assert len(read_predictions(out)) == len(expected)


def test_resume_refuses_other_settings_and_malformed_lines(tmp_path, synthetic_build, predictor):
    out = tmp_path / "caption.jsonl"
    predict(predictor, synthetic_build, "caption", "test", out, limit=1, progress=False)
    with pytest.raises(ValueError, match="line 1: written with settings=.*Write to another --out"):
        predict(predictor, synthetic_build, "caption", "test", out, conversation_history=True, progress=False)
    out.write_text('{"question_id": "x"\n' + out.read_text())
    with pytest.raises(PredictionFormatError, match=r"caption.jsonl, line 1: malformed JSON"):
        predict(predictor, synthetic_build, "caption", "test", out, progress=False)


def test_conversation_history_is_replayed_and_recorded(tmp_path, synthetic_build, predictor):
    plain = predict(predictor, synthetic_build, "conversation", "test", tmp_path / "a.jsonl", progress=False)
    history = predict(
        predictor,
        synthetic_build,
        "conversation",
        "test",
        tmp_path / "b.jsonl",
        conversation_history=True,
        progress=False,
    )
    assert plain.written == history.written > 2
    a, b = _lines(tmp_path / "a.jsonl"), _lines(tmp_path / "b.jsonl")
    assert {line["settings"]["conversation_history"] for line in b} == {True}
    assert {line["settings"]["conversation_history"] for line in a} == {False}
    # first turns are asked the same way; later turns see the gold history, so their prompts to the model differ
    assert [x["text"] for x in a if x["question_id"].endswith("#0")] == [
        y["text"] for y in b if y["question_id"].endswith("#0")
    ]
    assert [x["text"] for x in a] != [y["text"] for y in b]


def test_history_without_gold_answer_is_an_error():
    item = {"question_id": "q", "id": "row", "history": [("Q1", None)]}
    with pytest.raises(ValueError, match="row row.*earlier turn 0 .*no gold answer"):
        predict_command._history(item, True)
    assert predict_command._history(item, False) == []


def test_predict_refuses_instruct_and_negative_limit(tmp_path, synthetic_build, predictor):
    with pytest.raises(ValueError, match="task config"):
        predict(predictor, synthetic_build, "instruct", "test", tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="--limit must be >= 0"):
        predict(predictor, synthetic_build, "vqa", "test", tmp_path / "x.jsonl", limit=-1)


def test_predict_command(tmp_path, tiny_dir, synthetic_build, capsys):
    parser = argparse.ArgumentParser()
    predict_command.add_arguments(parser)
    out = tmp_path / "p.jsonl"
    args = parser.parse_args(
        [
            "--model",
            str(tiny_dir),
            "--data",
            str(synthetic_build),
            "--config",
            "detail",
            "--out",
            str(out),
            "--max-new-tokens",
            "4",
            "--batch-size",
            "2",
            "--format",
            "llava",
            "--image-aspect",
            "resize",
            "--device",
            "cpu",
        ]
    )
    args.progress = False
    assert predict_command.run(args) == 0
    assert "2 predicted, 0 already there, 2 items" in capsys.readouterr().out
    lines = _lines(out)
    assert len(lines) == 2 and lines[0]["settings"]["image_aspect"] == "resize"
    assert lines[0]["settings"]["max_new_tokens"] == 4
    assert llava_path(out).is_file()
