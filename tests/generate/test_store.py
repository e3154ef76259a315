from __future__ import annotations

import sqlite3

import pytest

from rsgpt4v.generate.store import ImageItem, JobStore, Prices


def _item(k: int) -> ImageItem:
    return ImageItem(
        "custom", "train", f"a/{k}.png", f"/data/a/{k}.png", 10, 20, [{"category": "x", "bbox": [1, 2, 3, 4]}]
    )


def test_add_images_is_idempotent_and_keeps_order(tmp_path):
    with JobStore(tmp_path / "s.sqlite") as store:
        assert store.add_images([_item(2), _item(1)]) == 2
        assert store.add_images([_item(1), _item(3)]) == 1
        assert [i.image_path for i in store.images()] == ["a/2.png", "a/1.png", "a/3.png"]
        assert list(store.images())[0] == _item(2)
        jobs = store.jobs()
        assert len(jobs) == 3 and {s.status for states in jobs.values() for s in states.values()} == {"pending"}


def test_record_done_is_never_overwritten_and_usage_adds_up(tmp_path):
    with JobStore(tmp_path / "s.sqlite") as store:
        store.add_images([_item(1)])
        run = store.start_run("m", "http://h/v1", Prices(1.0, 4.0))
        image_id = _item(1).image_id
        store.record(run, image_id, "local", model="m", requests=2, prompt_tokens=100, completion_tokens=50, error="x")
        assert store.job(image_id, "local")["status"] == "failed"
        store.record(
            run, image_id, "local", model="m", requests=1, prompt_tokens=10, completion_tokens=5, output={"a": 1}
        )
        store.record(
            run, image_id, "local", model="m2", requests=1, prompt_tokens=1, completion_tokens=1, output={"b": 2}
        )
        job = store.job(image_id, "local")
        assert (job["status"], job["output"], job["model"], job["error"]) == ("done", {"a": 1}, "m", None)
        assert (job["attempts"], job["prompt_tokens"], job["completion_tokens"]) == (3, 110, 55)
        summary = store.summary(run)
        assert (summary.requests, summary.prompt_tokens, summary.completion_tokens) == (4, 111, 56)
        assert summary.cost == pytest.approx((111 * 1.0 + 56 * 4.0) / 1e6)
        assert (summary.done, summary.pending) == (1, 2)


def test_endpoint_is_stored_without_credentials(tmp_path):
    with JobStore(tmp_path / "s.sqlite") as store:
        store.start_run("m", "https://user:pw@api.example.com:8443/v1/chat/completions?api-key=abc#x", Prices())
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert (
            db.execute("SELECT endpoint FROM runs").fetchone()[0] == "https://api.example.com:8443/v1/chat/completions"
        )


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "text.sqlite").write_text("not a database at all, just text " * 10)
    with pytest.raises(ValueError, match="not a generation job store"):
        JobStore(tmp_path / "text.sqlite")
    with sqlite3.connect(tmp_path / "other.sqlite") as db:
        db.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(ValueError, match="not a generation job store .it holds other tables"):
        JobStore(tmp_path / "other.sqlite")
    with sqlite3.connect(tmp_path / "other.sqlite") as db:  # untouched
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["users"]
