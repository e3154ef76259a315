"""Dataset card rendering, the licence table and `rsgpt4v push` (checked at the HfApi boundary, no network)."""

from __future__ import annotations

import argparse
import io
import json
import re
import warnings
from pathlib import Path

import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitInfo
from huggingface_hub.utils import filter_repo_objects
from PIL import Image

from rsgpt4v import hub
from rsgpt4v.build import NotABuildError
from rsgpt4v.licences import (
    LICENCES,
    hub_licence,
    licence_for,
    licence_table,
    licences_page,
    restricted,
)
from rsgpt4v.schema import SOURCES, Source

ROOT = Path(__file__).resolve().parent.parent
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _shard(path: Path, ids: list[str], images: list[bytes], source: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(ids)
    table = pa.table(
        {
            "id": ids,
            "image": pa.array([{"bytes": b, "path": f"{i}.png"} for i, b in zip(ids, images)], IMAGE_TYPE),
            "source": pa.array([SOURCES.index(source)] * n, pa.int64()),
            "conversations": [
                [
                    {"from": "human", "value": "<image>\nIs there a red building in the image?"},
                    {"from": "gpt", "value": "yes"},
                ]
            ]
            * n,
        }
    )
    pq.write_table(table, path)


def _count(source: str, config: str, split: str, rows: int, accepted: int, rejected: int = 0) -> dict:
    return {
        "source": source,
        "config": config,
        "split": split,
        "read": accepted + rejected,
        "accepted": accepted,
        "rejected": rejected,
        "rows": rows,
        "no_public_answer": 0,
    }


def _report(*extra_counts: dict) -> dict:
    return {
        "rsgpt4v_version": "0.1.0",
        "format": 1,
        "inputs": [
            {"name": "synthetic", "options": {"seed": 0}, "files": []},
            {
                "name": "rsvqa_lr",
                "options": {},
                "files": [
                    {"source": "rsvqa_lr", "path": "LR_split_test_questions.json", "sha256": "a" * 64},
                    {"source": "rsvqa_lr", "path": "LR_split_test_answers.json", "sha256": "b" * 64},
                ],
            },
        ],
        "counts": [
            _count("synthetic", "vqa", "train", rows=3, accepted=29, rejected=1),
            _count("rsvqa_lr", "vqa", "test", rows=1, accepted=5),
            _count("synthetic", "caption", "train", rows=2, accepted=10),
            *extra_counts,
        ],
        "rejections": [
            {"source": "synthetic", "split": "train", "file": "gen", "key": "x", "reason": "bad", "task": "vqa"}
        ],
        "leakage": [],
        "configs": {"vqa": {"train": 3, "test": 1}, "caption": {"train": 2}, "instruct": {"train": 5, "test": 1}},
        "options": {"box_format": "norm01", "pad_to_square": True},
    }


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A tiny fake build folder: vqa (train, test) and caption (train) shards with PNG images."""
    folder = tmp_path / "build"
    _shard(
        folder / "vqa" / "train-00000-of-00001.parquet",
        [f"synthetic/train/v{i}.png/vqa" for i in range(3)],
        [_png((640, 320), (200, 30, 30))] * 3,
        "synthetic",
    )
    _shard(
        folder / "vqa" / "test-00000-of-00001.parquet",
        ["rsvqa_lr/test/1.tif/vqa"],
        [_png((64, 64), (0, 0, 9))],
        "rsvqa_lr",
    )
    _shard(
        folder / "caption" / "train-00000-of-00001.parquet",
        [f"synthetic/train/c{i}.png/caption" for i in range(2)],
        [_png((100, 400), (10, 200, 10))] * 2,
        "synthetic",
    )
    return folder


def _as_build(folder: Path, report: dict) -> Path:
    """Give a folder the two files that make it a build."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "build_report.json").write_text(json.dumps(report))
    (folder / "README.md").write_text("---\nlicense: other\n---\n# card\n")
    return folder


# --- licences ----------------------------------------------------------------------------------------------------


def test_licence_table_has_every_source_in_label_order():
    assert tuple(LICENCES) == SOURCES
    for source, entry in LICENCES.items():
        assert entry.source == source and entry.name and entry.licence and entry.hub_id
        if source not in ("synthetic", "custom"):
            assert entry.homepage.startswith("https://"), source
            assert entry.citation.startswith("@") and entry.citation.count("{") == entry.citation.count("}"), source
            assert not entry.commercial_use_ok or entry.hub_id in ("cc-by-4.0", "cdla-permissive-1.0"), source


def test_licence_lookup_and_restriction():
    assert licence_for(Source.RSVQA_LR) is licence_for("rsvqa_lr")
    assert licence_for("floodnet").licence == "CDLA-Permissive-1.0"
    with pytest.raises(ValueError, match="'ucm'.*ucm_captions"):
        licence_for("ucm")
    assert [e.source for e in restricted(["synthetic", "dior_rsvg", "rsvqa_lr", "rsicd"])] == ["rsicd", "dior_rsvg"]
    assert restricted(["synthetic", "rsvqa_hr", "floodnet"]) == []
    assert hub_licence(["rsvqa_lr", "rsvqa_hr"]) == "cc-by-4.0"
    assert hub_licence(["synthetic"]) == "apache-2.0"
    assert hub_licence(["synthetic", "rsvqa_lr"]) == "other"


def test_licence_table_markdown_rows():
    table = licence_table(["rsicd", "synthetic"]).splitlines()
    assert table[0] == "| source | dataset | licence | commercial use | homepage |"
    assert len(table) == 4
    assert table[2].startswith("| `rsicd` | RSICD |") and "**no / not stated**" in table[2]
    assert table[3] == "| `synthetic` | rsgpt4v synthetic scenes | Apache-2.0 | yes | — |"
    assert len(licence_table().splitlines()) == 2 + len(SOURCES)


def test_docs_page_is_the_generated_table():
    page = (ROOT / "docs" / "licences.md").read_text()
    assert page == licences_page(), "docs/licences.md is stale: run `python -m rsgpt4v.licences > docs/licences.md`"
    assert licence_table() in page


# --- template location -------------------------------------------------------------------------------------------


def test_template_found_in_checkout():
    assert hub.template_dir() == ROOT / "hub_cards"
    assert not (ROOT / "hub_cards" / ".keep").exists()


def test_template_found_in_installed_layout(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "rsgpt4v"
    (package / "_hub_cards").mkdir(parents=True)
    (package / "_hub_cards" / hub.CARD_TEMPLATE).write_text("installed {{ version }}\n")
    monkeypatch.setattr(hub, "__file__", str(package / "hub.py"))
    assert hub.template_dir() == package / "_hub_cards"
    (package / "_hub_cards" / hub.CARD_TEMPLATE).unlink()
    with pytest.raises(FileNotFoundError, match="_hub_cards/dataset_card.md.*hub_cards/dataset_card.md"):
        hub.template_dir()


# --- card --------------------------------------------------------------------------------------------------------


def test_card_counts_features_sources_and_provenance(build):
    body = hub.render_card_body(_report(), build, thumbnails=0)
    vqa = body.split("### `vqa`", 1)[1]
    assert "| source | train | test |" in vqa
    assert "| `rsvqa_lr` | — | 1 (5) |" in vqa
    assert "| `synthetic` | 3 (29) | — |" in vqa
    assert "| **total** | **3 (29)** | **1 (5)** |" in vqa
    assert "| `synthetic` | 2 (10) |" in body.split("### `caption`", 1)[1]
    instruct = body.split("### `instruct`", 1)[1]
    assert "| train | 5 |" in instruct and "| test | 1 |" in instruct
    assert "| `synthetic` | vqa | train | 30 | 1 | 0 |" in body  # the rejection summary
    features = body.split("## Features", 1)[1]
    assert (
        "| `qa` | `list<struct{question_id: string, question: string, answer: string, question_type: class_label["
        in features
    )
    assert "| `references` | `list<string>` |" in features
    assert "| `conversations` | `list<struct{from: string, value: string}>` |" in features
    sources = body.split("## Source datasets and licences", 1)[1]
    assert licence_table() in sources
    assert "### RSVQA-LR (`rsvqa_lr`)" in sources and "doi     = {10.1109/TGRS.2020.2988782}" in sources
    assert "### rsgpt4v synthetic scenes (`synthetic`)" in sources
    assert "### RSICD (`rsicd`)" not in sources  # only the sources present get a section
    assert "> **Licences.**" not in body  # synthetic + RSVQA-LR allow commercial use
    assert "Inputs: 2 inputs, 2 input files, each recorded with its sha256." in body
    assert "Rejected items: 1; images shared by a train and a test split: 0." in body
    assert "  - `box_format`: `norm01`" in body
    assert "## Examples" not in body and not (build / hub.THUMBNAIL_DIR).exists()
    assert "@article{xu2024rsgpt4v" in body


def test_card_load_snippet_never_uses_the_bare_package_name(build):
    body = hub.render_card_body(_report(), build, thumbnails=0)
    assert 'load_dataset("<owner>/<name>", "vqa", split="train")' in body
    named = hub.render_card_body(_report(), build, thumbnails=0, repo_id="someone/rs-data")
    assert 'load_dataset("someone/rs-data", "vqa", split="train")' in named
    assert not re.search(r'load_dataset\("rsgpt4v"', body + named)


def test_card_flags_restricted_sources_present(build):
    report = _report(_count("dior_rsvg", "caption", "train", rows=1, accepted=1))
    body = hub.render_card_body(report, build, thumbnails=0)
    assert "> **Licences.** This build contains data whose licence does not allow commercial use" in body
    assert "> DIOR-RSVG." in body
    assert "### DIOR-RSVG (`dior_rsvg`)" in body
    # a source whose items were all rejected has no rows: it is not in the build
    report = _report(_count("dior_rsvg", "caption", "train", rows=0, accepted=0, rejected=3))
    assert hub.report_sources(report) == ["rsvqa_lr", "synthetic"]
    assert "### DIOR-RSVG" not in hub.render_card_body(report, build, thumbnails=0)


def test_card_thumbnails_written_and_linked(build):
    (build / hub.THUMBNAIL_DIR).mkdir()
    (build / hub.THUMBNAIL_DIR / "stale.jpg").write_bytes(b"old")
    body = hub.render_card_body(_report(), build, thumbnails=3)
    links = re.findall(r"!\[[^\]]*\]\((thumbnails/[^)]+)\)", body)
    # one row of each task config in turn: caption, vqa, then caption again
    assert links == ["thumbnails/00-caption.jpg", "thumbnails/01-vqa.jpg", "thumbnails/02-caption.jpg"]
    assert sorted(p.name for p in (build / hub.THUMBNAIL_DIR).iterdir()) == [Path(link).name for link in links]
    with Image.open(build / links[1]) as im:
        assert im.format == "JPEG" and im.size == (256, 128)  # 640x320 scaled to a 256 px longest side
        assert im.getpixel((128, 64))[0] > 150  # still red
    with Image.open(build / links[0]) as im:
        assert im.size == (64, 256)
    assert "`vqa` · `synthetic` · `synthetic/train/v0.png/vqa` — *Is there a red building in the image?* → yes" in body


def test_card_thumbnails_stop_when_rows_run_out(build):
    body = hub.render_card_body(_report(), build, thumbnails=50)
    assert len(re.findall(r"!\[", body)) == 6  # 2 caption rows + 4 vqa rows (train and test)


def test_card_rejects_malformed_report(build):
    report = _report()
    del report["counts"][1]["rows"]
    with pytest.raises(ValueError, match=r"counts\[1\] has no 'rows' field"):
        hub.render_card_body(report, build)
    report = _report()
    report["counts"][0]["source"] = "mystery"
    with pytest.raises(ValueError, match=r"counts\[0\]\.source is 'mystery'"):
        hub.render_card_body(report, build)
    with pytest.raises(ValueError, match="no 'counts' list"):
        hub.render_card_body({"configs": {}}, build)


def test_card_names_the_shard_and_row_of_an_undecodable_image(tmp_path):
    folder = tmp_path / "bad"
    _shard(
        folder / "vqa" / "train-00000-of-00001.parquet", ["synthetic/train/x.png/vqa"], [b"not an image"], "synthetic"
    )
    report = _report()
    report["configs"] = {"vqa": {"train": 1}}
    with pytest.raises(
        ValueError, match=r"vqa/train-00000-of-00001\.parquet: row 'synthetic/train/x\.png/vqa'.*decode"
    ):
        hub.render_card_body(report, folder, thumbnails=1)


# --- push --------------------------------------------------------------------------------------------------------


class RecordingApi:
    """A stand-in for huggingface_hub.HfApi that records the calls it gets."""

    instances: list[RecordingApi] = []

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.calls: list[tuple[str, tuple, dict]] = []
        RecordingApi.instances.append(self)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", (repo_id,), kwargs))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", (), kwargs))
        return CommitInfo(
            commit_url=f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/abc123",
            commit_message=kwargs.get("commit_message") or "",
            commit_description="",
            oid="abc123",
        )


def test_push_calls_the_hub_with_a_dataset_repo(tmp_path):
    folder = _as_build(tmp_path / "b", _report())
    api = RecordingApi()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # synthetic + RSVQA-LR: nothing to warn about
        url = hub.push(folder, "me/rs-data", api=api)
    assert url == "https://huggingface.co/datasets/me/rs-data/commit/abc123"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    _, args, kwargs = api.calls[0]
    assert args == ("me/rs-data",)
    assert kwargs == {"token": None, "private": False, "repo_type": "dataset", "exist_ok": True}
    upload = api.calls[1][2]
    assert upload["repo_id"] == "me/rs-data" and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == folder
    assert upload["ignore_patterns"] == hub.UPLOAD_IGNORE
    assert "0.1.0" in upload["commit_message"]


def test_upload_ignore_patterns_skip_temporary_files():
    paths = ["README.md", "build_report.json", "vqa/train-00000-of-00001.parquet", "thumbnails/00-vqa.jpg"]
    junk = ["x.tmp", "vqa/train.parquet.part", ".DS_Store", "vqa/.DS_Store", "__pycache__/a.pyc", "notes.md~"]
    assert list(filter_repo_objects(paths + junk, ignore_patterns=hub.UPLOAD_IGNORE)) == paths


def test_push_warns_about_non_commercial_sources(tmp_path):
    report = _report(_count("rsicd", "caption", "train", rows=2, accepted=10))
    folder = _as_build(tmp_path / "b", report)
    api = RecordingApi()
    with pytest.warns(hub.LicenceWarning, match=r"1 source\(s\).*RSICD \(rsicd\): not stated"):
        hub.push(folder, "me/rs-data", api=api)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]  # a warning, not a refusal
    assert [e.source for e in hub.restricted_sources(report)] == ["rsicd"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hub.push(folder, "me/rs-data", api=RecordingApi(), accept_licences=True)


def test_push_default_api_gets_token_and_private(tmp_path, monkeypatch):
    RecordingApi.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    folder = _as_build(tmp_path / "b", _report())
    url = hub.push(folder, "me/private-rs", token="hf_secret", private=True)
    assert url.endswith("/me/private-rs/commit/abc123")
    (api,) = RecordingApi.instances
    assert api.token == "hf_secret"
    assert api.calls[0][2] == {"token": "hf_secret", "private": True, "repo_type": "dataset", "exist_ok": True}
    assert api.calls[1][2]["token"] == "hf_secret"


def test_push_refuses_a_folder_that_is_not_a_build(tmp_path):
    api = RecordingApi()
    with pytest.raises(NotABuildError, match="not an rsgpt4v build"):
        hub.push(tmp_path, "me/rs-data", api=api)
    (tmp_path / "build_report.json").write_text(json.dumps(_report()))
    with pytest.raises(NotABuildError, match="no README.md"):
        hub.push(tmp_path, "me/rs-data", api=api)
    assert api.calls == []


# --- CLI ---------------------------------------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rsgpt4v push")
    hub.add_push_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_arguments():
    args = _parse("out", "me/rs", "--private", "--accept-licences", "--token", "t")
    assert (args.folder, args.repo_id, args.private, args.accept_licences, args.token) == (
        Path("out"),
        "me/rs",
        True,
        True,
        "t",
    )
    args = _parse("out", "me/rs")
    assert (args.private, args.accept_licences, args.token) == (False, False, None)


def test_run_push_prints_warnings_and_url(tmp_path, monkeypatch, capsys):
    RecordingApi.instances.clear()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    folder = _as_build(tmp_path / "b", _report(_count("rsivqa", "vqa", "train", rows=1, accepted=3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI prints its own warning lines, once
        assert hub.run_push(_parse(str(folder), "me/rs")) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "https://huggingface.co/datasets/me/rs/commit/abc123"
    assert "warning: RSIVQA (rsivqa): not stated by the authors" in err and "--accept-licences" in err
    assert hub.run_push(_parse(str(folder), "me/rs", "--accept-licences")) == 0
    assert "warning" not in capsys.readouterr().err


def test_run_push_errors(tmp_path, monkeypatch, capsys):
    assert hub.run_push(_parse(str(tmp_path), "me/rs")) == 2
    assert "not an rsgpt4v build" in capsys.readouterr().err

    class OfflineApi(RecordingApi):
        def create_repo(self, repo_id, **kwargs):
            raise huggingface_hub.errors.OfflineModeIsEnabled("offline mode is enabled")

    monkeypatch.setattr(huggingface_hub, "HfApi", OfflineApi)
    folder = _as_build(tmp_path / "b", _report())
    assert hub.run_push(_parse(str(folder), "me/rs")) == 1
    assert "upload of" in capsys.readouterr().err
