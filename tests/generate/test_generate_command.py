from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from rsgpt4v.generate import command, records_from_store
from rsgpt4v.generate.client import image_data_url

RUNNER = (
    "import argparse, sys\n"
    "from rsgpt4v.generate import command\n"
    "parser = argparse.ArgumentParser()\n"
    "command.add_arguments(parser)\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "args.progress = False\n"
    "sys.exit(command.run(args))\n"
)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    args.progress = False
    return command.run(args)


def test_dry_run_prints_prompts_and_sends_nothing(server, tmp_path, make_images, capsys):
    make_images(tmp_path / "imgs", 2)
    store = tmp_path / "store.sqlite"
    argv = ["--images", str(tmp_path / "imgs"), "--endpoint", server.base_url, "--model", "m", "--out", str(store)]
    assert _run([*argv, "--dry-run", "--turns", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("===== custom/train/img_000.png [local] =====") == 1
    assert "[global]" in out and "[conversation]" in out
    assert "This is an overhead remote sensing image of 64x48 pixels." in out
    assert "write a conversation of exactly 3 question-and-answer turns" in out
    assert "dry run: 2 images, 6 requests would be sent to model 'm'." in out
    assert server.stats()["requests"] == 0
    assert not store.exists()


def test_generate_prints_summary_and_exit_status(server, tmp_path, make_images, capsys):
    make_images(tmp_path / "imgs", 2)
    store = tmp_path / "store.sqlite"
    argv = ["--images", str(tmp_path / "imgs"), "--endpoint", server.base_url, "--model", "m", "--out", str(store)]
    assert _run([*argv, "--price-input", "1", "--price-output", "2"]) == 0
    out = capsys.readouterr().out
    assert "done 6, failed 0, pending 0" in out
    assert "this run: 6 requests" in out and "estimated cost $0.00" in out
    server.control(rules=[{"fault": "500", "count": 100, "match": "rsgpt4v_local"}])
    make_images(tmp_path / "imgs2", 1)
    argv2 = ["--images", str(tmp_path / "imgs2"), "--endpoint", server.base_url, "--model", "m"]
    assert _run([*argv2, "--out", str(tmp_path / "s2.sqlite"), "--max-retries", "0"]) == 1
    out = capsys.readouterr().out
    assert "done 0, failed 1, pending 2" in out
    assert "failed custom/train/img_000.png [local]: request failed:" in out and "HTTP 500" in out


def test_bad_options(tmp_path, make_images, monkeypatch):
    make_images(tmp_path / "imgs", 1)
    base = ["--images", str(tmp_path / "imgs"), "--model", "m", "--out", str(tmp_path / "s.sqlite")]
    with pytest.raises(ValueError, match="expected NAME=FILE"):
        _run([*base, "--endpoint", "http://x/v1", "--template", "local"])
    with pytest.raises(FileNotFoundError, match="no file 'nope.txt'"):
        _run([*base, "--endpoint", "http://x/v1", "--template", "local=nope.txt"])
    with pytest.raises(ValueError, match="'sarcasm' is not a built-in type"):
        _run([*base, "--endpoint", "http://x/v1", "--question-types", "counting,sarcasm"])
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="No endpoint given: pass --endpoint"):
        _run(base)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        _run(["--images", str(tmp_path / "missing"), "--model", "m", "--out", "x", "--dry-run"])
    with pytest.raises(ValueError, match="--api-key-env NO_SUCH_VAR: that environment variable is not set"):
        _run([*base, "--endpoint", "http://x/v1", "--api-key-env", "NO_SUCH_VAR"])


def _done(store) -> set[tuple[str, str]]:
    if not store.exists():
        return set()
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10) as db:
        try:
            return set(db.execute("SELECT image_id, stage FROM jobs WHERE status = 'done'").fetchall())
        except sqlite3.OperationalError:  # tables not created yet
            return set()


@pytest.mark.slow  # four generating subprocesses: 8-20 s on a busy machine
def test_kill_9_then_resume_repeats_no_done_work_and_loses_nothing(server, tmp_path, make_images):
    n = 24
    paths = make_images(tmp_path / "imgs", n)
    digest = {f"custom/train/{p.name}": hashlib.sha1(image_data_url(p).encode()).hexdigest()[:12] for p in paths}
    store = tmp_path / "store.sqlite"
    argv = [sys.executable, "-c", RUNNER, "--images", str(tmp_path / "imgs"), "--endpoint", server.base_url]
    argv += ["--model", "m", "--out", str(store), "--concurrency", "4", "--turns", "2"]
    server.control(latency=0.03)
    done_before: set[tuple[str, str]] = set()
    for kill_at in (5, 25, 50):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(_done(store)) < kill_at and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        # nothing requested in this run was already done before it started
        sent = {(stage, image) for stage, image, _ in server.stats()["log"]}
        assert not sent & {(stage, digest[image_id]) for image_id, stage in done_before}
        done_now = _done(store)
        assert done_before <= done_now and len(done_now) >= kill_at
        done_before = done_now
        server.reset()
        server.control(latency=0.03)
    assert len(done_before) < 3 * n  # the last kill really interrupted the work
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    sent = [(stage, image) for stage, image, _ in server.stats()["log"]]
    assert len(sent) == len(set(sent)) == 3 * n - len(done_before)
    assert not set(sent) & {(stage, digest[image_id]) for image_id, stage in done_before}
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT image_id, stage, status, output IS NOT NULL FROM jobs").fetchall()
        assert len(rows) == 3 * n and {(r[2], r[3]) for r in rows} == {("done", 1)}
        assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == n
    records = list(records_from_store(store))
    assert sum(r.task == "detail" for r in records) == n
    assert sum(r.task == "conversation" for r in records) == 2 * n
    assert len({r.question_id for r in records}) == len(records)


def _dior_root(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "data" / "dior_rsvg" / "data.py"
    spec = importlib.util.spec_from_file_location("fixture_dior_rsvg_for_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path / "DIOR_RSVG"
    module.generate(root)
    return root


def test_source_annotations_go_into_the_prompts(server, tmp_path, capsys):
    root = _dior_root(tmp_path)
    store = tmp_path / "store.sqlite"
    argv = ["--source", f"dior_rsvg={root}", "--endpoint", server.base_url, "--model", "m", "--out", str(store)]
    assert _run([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "===== dior_rsvg/train/DIOR-RSVG/JPEGImages/00003.jpg [local] =====" in out
    assert "- storagetank: [0.05, 0.35, 0.11, 0.41]" in out  # (39, 281, 87, 324) of 800x800 as norm01
    assert "dry run: 2 images, 6 requests" in out
    assert _run(argv) == 0
    records = [r for r in records_from_store(store) if r.task == "detail"]
    assert [(r.source, r.split, r.image_path) for r in records] == [
        ("dior_rsvg", "train", "DIOR-RSVG/JPEGImages/00003.jpg"),
        ("dior_rsvg", "train", "DIOR-RSVG/JPEGImages/00007.jpg"),
    ]
    assert records[0].objects[0]["category"] == "storagetank"
    assert records[0].objects[0]["bbox"] == pytest.approx([40.0, 280.0, 88.0, 328.0])
    with pytest.raises(ValueError, match="dior_rsvg has no split 'test_phili'"):
        _run([*argv, "--split", "test_phili"])
    with pytest.raises(ValueError, match="Unknown source 'nope'"):
        _run(["--source", f"nope={root}", "--endpoint", server.base_url, "--model", "m", "--out", str(store)])
