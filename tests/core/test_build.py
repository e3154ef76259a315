import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import png, records

from rsgpt4v.build import (
    BuildInput,
    BuildOptions,
    DuplicateIdError,
    LeakageError,
    NotABuildError,
    build,
    read_report,
)
from rsgpt4v.schema import CONFIGS, Record, Rejection

QUIET = BuildOptions(progress=False)


def _inputs():
    def gen():
        yield from records("train", "a.png", seed=1)
        yield from records("train", "b.png", seed=2)
        yield from records("test", "c.png", seed=3)

    return [BuildInput("hand", gen)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "data"
    report = build(_inputs(), out, QUIET)
    return out, report


def test_every_config_loads(built):
    out, _ = built
    assert sorted(datasets.get_dataset_config_names(str(out))) == sorted(CONFIGS)
    assert datasets.get_dataset_default_config_name(str(out)) == "instruct"
    for config in CONFIGS:
        ds = datasets.load_dataset(str(out), config)
        per_task = 1 if config != "instruct" else 6
        assert ds["train"].num_rows == 2 * per_task, config
        assert ds["test"].num_rows == per_task, config
        streamed = list(datasets.load_dataset(str(out), config, split="test", streaming=True))
        assert len(streamed) == per_task


def test_row_contents(built):
    out, _ = built
    vqa = datasets.load_dataset(str(out), "vqa", split="train")
    row = vqa[0]
    assert row["id"] == "custom/train/imgs/a.png/vqa"
    assert [q["question_id"] for q in row["qa"]] == ["train-a.png-q1", "train-a.png-q2"]
    assert row["conversations"][0] == {
        "from": "human",
        "value": "<image>\nIs there a road?\nAnswer the question using a single word or phrase.",
    }
    assert row["conversations"][1] == {"from": "gpt", "value": "yes"}
    assert (row["width"], row["height"]) == (40, 30)
    assert row["image"].size == (40, 30)
    cap = datasets.load_dataset(str(out), "caption", split="test")[0]
    assert cap["references"] == ["a field.", "green land."]
    assert cap["question_id"] == "custom/test/imgs/c.png/caption#0"
    grounding = datasets.load_dataset(str(out), "grounding", split="train")[0]
    assert grounding["objects"][0]["bbox"] == [2.0, 3.0, 20.0, 15.0]
    # norm01 on the 40x40 padded square (5 px top padding): x1 2/40, y1 (3+5)/40, x2 20/40, y2 (15+5)/40
    assert grounding["conversations"][1]["value"] == "[0.05, 0.20, 0.50, 0.50]"
    conv = datasets.load_dataset(str(out), "conversation", split="train")[0]
    assert len(conv["turn_question_ids"]) == 2
    assert [t["from"] for t in conv["conversations"]] == ["human", "gpt", "human", "gpt"]


def test_report_accounts_for_every_item(built):
    out, report = built
    assert read_report(out)["counts"] == report["counts"]
    for entry in report["counts"]:
        assert entry["read"] == entry["accepted"] + entry["rejected"]
    vqa_train = next(e for e in report["counts"] if (e["config"], e["split"]) == ("vqa", "train"))
    assert (vqa_train["read"], vqa_train["accepted"], vqa_train["rows"]) == (4, 4, 2)
    assert report["configs"]["instruct"] == {"test": 6, "train": 12}
    assert report["leakage"] == []


def test_reproducible_bytes(built, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build(_inputs(), again, QUIET)
    for shard in sorted(out.glob("*/*.parquet")):
        assert shard.read_bytes() == (again / shard.relative_to(out)).read_bytes(), shard


def test_failed_build_leaves_previous_output(built, tmp_path):
    out = tmp_path / "data"
    build(_inputs(), out, QUIET)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken():
        yield from records("train", "a.png")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        build([BuildInput("hand", broken)], out, QUIET)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary folder left behind


def test_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(NotABuildError, match="not an earlier rsgpt4v build"):
        build(_inputs(), tmp_path, QUIET)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _single(task_records, tmp_path, options=QUIET, name="hand"):
    return build([BuildInput(name, lambda: iter(task_records))], tmp_path / "out", options)


def test_undecodable_image_rejects_every_item_with_the_same_reason(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(png(fmt="JPEG")[:200])
    recs = [
        Record(task="vqa", source="custom", split="train", image_path="broken.jpg", image_file=str(bad),
               question=f"q{k}?", answer="no", question_type="presence", question_id=f"q{k}")
        for k in range(3)
    ] + list(records("train", "ok.png"))  # fmt: skip
    report = _single(recs, tmp_path)
    reasons = {r["reason"] for r in report["rejections"]}
    assert len(report["rejections"]) == 3 and len(reasons) == 1
    assert str(bad) in reasons.pop()
    vqa = next(e for e in report["counts"] if e["config"] == "vqa")
    assert (vqa["read"], vqa["accepted"], vqa["rejected"], vqa["rows"]) == (5, 2, 3, 1)


def test_missing_image_file_is_rejected(tmp_path):
    rec = Record(task="caption", source="custom", split="train", image_path="gone.png",
                 image_file=str(tmp_path / "gone.png"), references=["x"])  # fmt: skip
    report = _single([rec, *records()], tmp_path)
    (rej,) = report["rejections"]
    assert "gone.png" in rej["reason"] and "cannot read image" in rej["reason"]


def test_box_outside_decoded_image_is_rejected(tmp_path):
    rec = Record(task="grounding", source="custom", split="train", image_path="imgs/a.png", image_bytes=png(),
                 text="far away", bbox=(10.0, 10.0, 50.0, 20.0), question_id="g1")  # fmt: skip
    report = _single([rec, *records()], tmp_path)
    (rej,) = report["rejections"]
    assert rej["key"] == "g1" and "outside the 40x30 image" in rej["reason"]
    grounding = datasets.load_dataset(str(tmp_path / "out"), "grounding", split="train")
    assert [o["expression"] for o in grounding[0]["objects"]] == ["the red roof"]


def test_invalid_records_and_source_rejections_are_counted(tmp_path):
    empty = Record(task="caption", source="custom", split="train", image_path="x.png", image_bytes=png(),
                   references=[""])  # fmt: skip
    rej = Rejection("custom", "train", "ann.json", "17", "answer without a question", "vqa")
    report = _single([empty, rej, *records()], tmp_path)
    assert len(report["rejections"]) == 2
    cap = next(e for e in report["counts"] if e["config"] == "caption")
    assert (cap["read"], cap["accepted"], cap["rejected"]) == (2, 1, 1)
    vqa = next(e for e in report["counts"] if e["config"] == "vqa")
    assert (vqa["read"], vqa["accepted"], vqa["rejected"]) == (3, 2, 1)


def test_duplicate_question_id_is_an_error(tmp_path):
    recs = list(records("train", "a.png")) + list(records("train", "b.png"))
    recs[-1].question_id = recs[1].question_id = "same"
    recs[-1].task, recs[-1].question_type = "vqa", "presence"
    with pytest.raises(DuplicateIdError, match="question_id 'same' appears twice"):
        _single(recs, tmp_path)


def test_two_inputs_giving_one_row(tmp_path):
    legacy = list(records("train", "a.png", origin="legacy"))
    release = list(records("train", "a.png", origin="release"))
    inputs = [BuildInput("ucm", lambda: iter(legacy)), BuildInput("release", lambda: iter(release))]
    with pytest.raises(DuplicateIdError, match="comes from two inputs, 'ucm' and 'release'"):
        build(inputs, tmp_path / "x", QUIET)
    report = build(inputs, tmp_path / "y", BuildOptions(progress=False, prefer="release"))
    assert {r["reason"] for r in report["rejections"]} == {"superseded by input 'release' (prefer release)"}
    assert len(report["rejections"]) == len(legacy)
    ds = datasets.load_dataset(str(tmp_path / "y"), "caption", split="train")
    assert ds.num_rows == 1 and ds[0]["origin"] == "release"


def test_leakage_fails_unless_allowed(tmp_path):
    def gen():
        yield from records("train", "a.png", seed=5)
        yield from records("test", "copy.png", seed=5)

    with pytest.raises(LeakageError, match="in a train and a test split"):
        build([BuildInput("hand", gen)], tmp_path / "x", QUIET)
    assert not (tmp_path / "x").exists()
    report = build([BuildInput("hand", gen)], tmp_path / "y", BuildOptions(progress=False, allow_leakage=True))
    (entry,) = report["leakage"]
    assert entry["train"] == [f"custom/train/imgs/a.png/{t}" for t in sorted(
        ["caption", "conversation", "detail", "grounding", "region_caption", "vqa"])]  # fmt: skip


def test_rows_without_public_answer_stay_out_of_instruct(tmp_path):
    recs = [
        Record(task="vqa", source="floodnet", split="test", image_path="t.jpg", image_bytes=png(fmt="JPEG"),
               question="Is the road flooded?", answer=None, question_type="condition_recognition",
               question_id="f1")
    ]  # fmt: skip
    report = _single([*recs, *records("train")], tmp_path)
    out = tmp_path / "out"
    assert (out / "vqa" / "test-noanswer-00000-of-00001.parquet").is_file()
    vqa = datasets.load_dataset(str(out), "vqa", split="test")
    assert vqa[0]["qa"][0]["answer"] is None
    assert [t["from"] for t in vqa[0]["conversations"]] == ["human"]
    assert "test" not in report["configs"]["instruct"]
    entry = next(e for e in report["counts"] if e["source"] == "floodnet")
    assert entry["no_public_answer"] == 1 and entry["accepted"] == 1


def test_tiff_and_16_bit_are_converted_jpeg_kept(tmp_path):
    tif = png(fmt="TIFF")
    tif16 = png(fmt="TIFF", mode="I;16")
    jpg = png(fmt="JPEG")
    recs = [
        Record(task="caption", source="custom", split="train", image_path=f"i{k}.{ext}", image_bytes=data,
               references=["x"])
        for k, (ext, data) in enumerate([("tif", tif), ("tif", tif16), ("jpg", jpg)])
    ]  # fmt: skip
    _single(recs, tmp_path)
    table = pq.read_table(next((tmp_path / "out" / "caption").glob("*.parquet")))
    stored = {r["image_path"]: r["image"]["bytes"] for r in table.to_pylist()}
    assert stored["i0.tif"].startswith(b"\x89PNG") and stored["i1.tif"].startswith(b"\x89PNG")
    assert stored["i2.jpg"] == jpg
    ds = datasets.load_dataset(str(tmp_path / "out"), "caption", split="train")
    modes = {r["image_path"]: r["image"].mode for r in ds}
    assert modes == {"i0.tif": "RGB", "i1.tif": "L", "i2.jpg": "RGB"}


def test_shard_size_cap(tmp_path):
    def gen():
        for k in range(6):
            yield from records("train", f"{k}.png", seed=k)

    build([BuildInput("hand", gen)], tmp_path / "out", BuildOptions(progress=False, max_shard_bytes=8000))
    shards = sorted(p.name for p in (tmp_path / "out" / "vqa").glob("*.parquet"))
    assert len(shards) > 1 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    assert datasets.load_dataset(str(tmp_path / "out"), "vqa", split="train").num_rows == 6


def test_workers_give_the_same_bytes(built, tmp_path):
    out, _ = built
    build(_inputs(), tmp_path / "w", BuildOptions(progress=False, workers=2))
    for shard in sorted(out.glob("*/*.parquet")):
        assert shard.read_bytes() == (tmp_path / "w" / shard.relative_to(out)).read_bytes()


def test_report_lists_input_checksums(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"a": 1}))
    report = build([BuildInput("hand", lambda: records(), files=[ann])], tmp_path / "out", QUIET)
    (inp,) = report["inputs"]
    assert inp["files"][0]["sha256"] == __import__("hashlib").sha256(ann.read_bytes()).hexdigest()
    assert Path(inp["files"][0]["path"]) == ann
