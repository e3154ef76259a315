import json
import shutil

import datasets
import pytest

from rsgpt4v.cli import main


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "syn"
    assert main(["--no-progress", "build", "--synthetic", "30", "--out", str(out)]) == 0
    return out


def test_quickstart(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--no-progress", "quickstart", "--images", "25"]) == 0
    printed = capsys.readouterr().out
    assert 'datasets.load_dataset("rsgpt4v-data", "vqa")' in printed
    assert "Valid:" in printed and "### vqa" in printed
    ds = datasets.load_dataset("rsgpt4v-data", "vqa")  # the printed line works from that directory
    assert ds["train"].num_rows + ds["test"].num_rows == 25
    for config in ("caption", "grounding", "region_caption", "detail", "conversation", "instruct"):
        splits = datasets.load_dataset("rsgpt4v-data", config)
        assert set(splits) == {"train", "test"}, config


def test_build_validate_stats(synthetic_build, capsys):
    assert main(["validate", str(synthetic_build)]) == 0
    assert "valid (" in capsys.readouterr().out
    assert main(["stats", str(synthetic_build)]) == 0
    table = capsys.readouterr().out
    assert "| synthetic | train |" in table and "instruct rows:" in table
    report = json.loads((synthetic_build / "build_report.json").read_text())
    assert report["inputs"][0]["options"] == {"n_images": 30, "size": 64, "seed": 0}


def test_build_from_a_config_file(tmp_path):
    cfg = tmp_path / "build.yaml"
    cfg.write_text(f"synthetic: 8\nseed: 3\nbox_format: grid100\nout: {tmp_path / 'o'}\n")
    assert main(["--no-progress", "build", "--config", str(cfg)]) == 0
    report = json.loads((tmp_path / "o" / "build_report.json").read_text())
    assert report["options"]["box_format"] == "grid100"
    g = datasets.load_dataset(str(tmp_path / "o"), "grounding", split="train")
    assert g[0]["conversations"][1]["value"].startswith("{<")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["build", "--synthetic", "2"], "--out is required"),
        (["build", "--out", "x"], "Nothing to build"),
        (["build", "--source", "ucm_captions", "--out", "x"], "expected NAME=PATH"),
        (["build", "--synthetic", "1", "--image-root", "ucm=/x", "--out", "x"], "only used with --source"),
    ],
)
def test_build_argument_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_unknown_option_in_config_file(tmp_path, capsys):
    cfg = tmp_path / "b.yaml"
    cfg.write_text("synthetics: 3\n")
    assert main(["build", "--config", str(cfg)]) == 1
    assert "unknown option(s) synthetics" in capsys.readouterr().err


def test_validate_reports_a_corrupt_shard_and_count_mismatch(synthetic_build, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_build, broken)
    shard = next((broken / "vqa").glob("train-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:500])
    assert main(["validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"vqa/{shard.name}: cannot be read as parquet" in err
    assert "rows on disk, the report says" in err


def test_validate_detects_undecodable_image(synthetic_build, tmp_path, capsys):
    import pyarrow.parquet as pq

    broken = tmp_path / "img"
    shutil.copytree(synthetic_build, broken)
    shard = next((broken / "caption").glob("train-*.parquet"))
    table = pq.read_table(shard)
    rows = table.to_pylist()
    rows[0]["image"]["bytes"] = b"\x89PNG broken"
    pq.write_table(table.from_pylist(rows, schema=table.schema), shard)
    assert main(["validate", str(broken)]) == 1
    assert f"row {rows[0]['id']!r}: image does not decode" in capsys.readouterr().err


def test_validate_refuses_a_folder_that_is_not_a_build(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 1
    assert "is not an rsgpt4v build" in capsys.readouterr().err
