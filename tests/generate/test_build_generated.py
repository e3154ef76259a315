"""`rsgpt4v build --source generated=STORE`: the store becomes detail and conversation rows ending in /gen."""

from __future__ import annotations

import json

import datasets

from rsgpt4v.cli import main


def test_build_from_a_generated_store(server, tmp_path, make_images):
    make_images(tmp_path / "imgs", 2)
    store = tmp_path / "store.sqlite"
    argv = ["--no-progress", "generate", "--images", str(tmp_path / "imgs"), "--endpoint", server.base_url]
    assert main([*argv, "--model", "vlm-x", "--out", str(store)]) == 0
    out = tmp_path / "build"
    assert main(["--no-progress", "build", "--source", f"generated={store}", "--out", str(out)]) == 0
    detail = datasets.load_dataset(str(out), "detail", split="train")
    conv = datasets.load_dataset(str(out), "conversation", split="train")
    assert detail.num_rows == conv.num_rows == 2
    assert all(r["id"].endswith("/detail/gen") and r["origin"] == "generated:vlm-x" for r in detail)
    assert all(r["id"].endswith("/conversation/gen") for r in conv)
    assert detail[0]["description"] and detail[0]["objects"] is not None
    assert all(q.startswith(conv[0]["id"] + "#") for q in conv[0]["turn_question_ids"])
    report = json.loads((out / "build_report.json").read_text())
    assert report["inputs"][0]["name"] == "generated" and report["inputs"][0]["files"][0]["path"] == str(store)
    assert all(e["read"] == e["accepted"] and e["rejected"] == 0 for e in report["counts"])
