"""Building from real-format sources: several legacy fixtures together, and release vs legacy collisions."""

from __future__ import annotations

import json
import shutil

import datasets
import pytest
from source_fixtures import DATA, generated, write_image

from rsgpt4v.cli import main


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return {
        "ucm_captions": generated(tmp_path_factory, "ucm_captions", "UCM_captions"),
        "rsvqa_lr": generated(tmp_path_factory, "rsvqa_lr", "RSVQA_LR"),
        "dior_rsvg": generated(tmp_path_factory, "dior_rsvg", "DIOR-RSVG"),
        "floodnet": generated(tmp_path_factory, "floodnet", "FloodNet"),
    }


@pytest.fixture(scope="module")
def release_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    shutil.copy(DATA / "rsgpt4v_test_sample" / "UCM-Captions.jsonl", root)
    for line in (root / "UCM-Captions.jsonl").read_text().splitlines():
        write_image(root / json.loads(line)["image"], (12, 10))
    return root


def test_legacy_sources_build_and_validate(roots, tmp_path, capsys):
    out = tmp_path / "legacy"
    argv = ["--no-progress", "build", *[f"--source={n}={p}" for n, p in roots.items()], "--out", str(out)]
    assert main([*argv, "--workers", "2"]) == 0
    assert "### grounding" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 0
    report = json.loads((out / "build_report.json").read_text())
    assert {i["name"] for i in report["inputs"]} == set(roots)
    assert all(f["sha256"] for i in report["inputs"] for f in i["files"])
    for entry in report["counts"]:
        assert entry["read"] == entry["accepted"] + entry["rejected"], entry
    flood = [e for e in report["counts"] if e["source"] == "floodnet" and e["split"] != "train"]
    assert flood and all(e["no_public_answer"] == e["accepted"] for e in flood)
    vqa = datasets.load_dataset(str(out), "vqa")
    assert {"train", "test"} <= set(vqa)
    region = datasets.load_dataset(str(out), "region_caption", split="train")
    assert region.num_rows > 0 and region[0]["source"] == 9  # dior_rsvg
    instruct = datasets.load_dataset(str(out), "instruct", split="train")
    assert all(t["from"] in ("human", "gpt") for r in instruct for t in r["conversations"])


def test_release_and_legacy_giving_one_row(roots, release_root, tmp_path, capsys):
    argv = [
        "--no-progress",
        "build",
        f"--source=release={release_root}",
        f"--source=ucm_captions={roots['ucm_captions']}",
    ]
    assert main([*argv, "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "comes from two inputs, 'release' and 'ucm_captions'" in err and "--prefer" in err
    assert not (tmp_path / "x").exists()
    assert main([*argv, "--prefer", "release", "--out", str(tmp_path / "y")]) == 0
    report = json.loads((tmp_path / "y" / "build_report.json").read_text())
    superseded = [r for r in report["rejections"] if r["reason"].startswith("superseded by input 'release'")]
    assert len(superseded) == 1 and superseded[0]["split"] == "test"
    caption = datasets.load_dataset(str(tmp_path / "y"), "caption", split="test")
    row = next(r for r in caption if r["image_path"] == "UCM_captions/imgs/81.tif")
    assert row["origin"] == "release"
