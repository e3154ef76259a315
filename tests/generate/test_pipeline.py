from __future__ import annotations

import json
import sqlite3

import pytest

from rsgpt4v.generate import (
    ClientConfig,
    GenerationConfig,
    ImageItem,
    JobStore,
    Prices,
    generate,
    items_from_folder,
    records_from_store,
)
from rsgpt4v.schema import Record, Rejection

MODEL = "fake-vlm"


def _items(tmp_path, make_images, n=3, annotations=True):
    paths = make_images(tmp_path / "imgs", n, size=(64, 48))
    items = []
    for k, path in enumerate(paths):
        ann = [
            {"category": "storage tank", "bbox": [8.0, 6.0, 32.0, 30.0]},
            {"category": "ship", "bbox": [40, 10, 60, 40]},
        ]
        items.append(
            ImageItem("dior_rsvg", "train", f"JPEGImages/{k:05d}.jpg", str(path), 64, 48, ann if annotations else [])
        )
    return items


def _client(server, **kw):
    kw.setdefault("backoff_base", 0.01)
    return ClientConfig(server.base_url, MODEL, **kw)


def test_full_run_outputs_records_and_usage(server, tmp_path, make_images):
    items = _items(tmp_path, make_images)
    store_path = tmp_path / "store.sqlite"
    run_id, summary = generate(
        items, store_path, _client(server), GenerationConfig(turns=4), prices=Prices(2.5, 10.0), progress=False
    )
    assert (summary.done, summary.failed, summary.pending) == (9, 0, 0)
    assert summary.requests == 9 == server.stats()["requests"]
    assert summary.prompt_tokens > 0 and summary.completion_tokens > 0
    assert summary.cost == pytest.approx((summary.prompt_tokens * 2.5 + summary.completion_tokens * 10.0) / 1e6)
    with JobStore(store_path) as store:
        local = store.job(items[0].image_id, "local")
        assert local["status"] == "done" and local["attempts"] == 1 and local["model"] == MODEL
        # the annotations went into the prompt as norm01 text and came back as the same pixel boxes (2-decimal steps)
        boxes = [o["bbox"] for o in local["output"]["objects"]]
        assert boxes == [pytest.approx([8.32, 6.24, 32.0, 30.24]), pytest.approx([40.32, 10.08, 60.16, 39.84])]
        assert len(store.job(items[0].image_id, "conversation")["output"]["turns"]) == 4
    records = list(records_from_store(store_path))
    assert all(isinstance(r, Record) for r in records)
    detail = [r for r in records if r.task == "detail"]
    turns = [r for r in records if r.task == "conversation"]
    assert len(detail) == 3 and len(turns) == 12
    for record in records:
        record.validate()
        assert record.origin == f"generated:{MODEL}"
    first = detail[0]
    assert first.question_id == "dior_rsvg/train/JPEGImages/00000.jpg/detail/gen"
    assert first.image_path == "JPEGImages/00000.jpg" and first.image_file == items[0].image_file
    assert [o["category"] for o in first.objects] == ["storage tank", "ship"]
    assert first.text.startswith("An overhead remote sensing scene with 2 described objects")
    assert [r.question_id for r in turns[:4]] == [
        f"dior_rsvg/train/JPEGImages/00000.jpg/conversation/gen#{k}" for k in range(4)
    ]
    assert {r.split for r in records} == {"train"}
    assert {r.split for r in records_from_store(store_path, split="val")} == {"val"}


def test_rerun_sends_nothing_and_adds_no_duplicates(server, tmp_path, make_images):
    items = _items(tmp_path, make_images)
    store_path = tmp_path / "store.sqlite"
    generate(items, store_path, _client(server), progress=False)
    assert server.stats()["requests"] == 9
    run_id, summary = generate(items, store_path, _client(server), progress=False)
    assert server.stats()["requests"] == 9
    assert (summary.done, summary.requests) == (9, 0)
    with sqlite3.connect(store_path) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 9
        assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 3
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


def test_repair_request_fixes_invalid_json(server, tmp_path, make_images):
    items = _items(tmp_path, make_images, n=1)
    server.control(
        rules=[{"fault": "content", "match": "rsgpt4v_local", "content": '{"objects": [{"cat', "finish": "length"}]
    )
    _, summary = generate(items, tmp_path / "s.sqlite", _client(server), progress=False)
    assert (summary.done, summary.failed) == (3, 0)
    log = server.stats()["log"]
    assert [entry[0] for entry in log] == ["local", "local", "global", "conversation"]
    with JobStore(tmp_path / "s.sqlite") as store:
        assert store.job(items[0].image_id, "local")["attempts"] == 2


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"objects": [], "relations": []}', "'objects' is empty"),
        (
            '{"objects": [{"category": "ship", "bbox": "[0.50, 0.50, 1.20, 0.90]", "description": "x"}], '
            '"relations": []}',
            "x2 = 1.2 is outside [0, 1]",
        ),
        ("Sure! Here are the objects.", "not valid JSON"),
    ],
)
def test_reply_still_invalid_after_repair_is_rejected_with_reason(server, tmp_path, make_images, content, reason):
    items = _items(tmp_path, make_images, n=2)
    server.control(rules=[{"fault": "content", "match": "rsgpt4v_local", "content": content, "count": 2}])
    store_path = tmp_path / "s.sqlite"
    generate(items, store_path, _client(server, concurrency=1), progress=False)
    with JobStore(store_path) as store:
        summary = store.summary()
        assert (summary.done, summary.failed, summary.pending) == (3, 1, 2)  # the failed image's later stages wait
        ((image_id, stage, error),) = summary.failures
        assert (image_id, stage) == (items[0].image_id, "local")
        assert "after one repair request" in error and reason in error
    rejections = [r for r in records_from_store(store_path) if isinstance(r, Rejection)]
    assert [(r.task, r.key) for r in rejections] == [
        ("detail", f"{items[0].image_id}/local"),
        ("conversation", f"{items[0].image_id}/local"),
    ]
    assert reason in rejections[0].reason
    # a later run leaves the failure alone by default and retries it on request
    generate(items, store_path, _client(server), progress=False)
    assert JobStore(store_path).summary().failed == 1
    _, summary = generate(items, store_path, _client(server), GenerationConfig(retry_failed=True), progress=False)
    assert (summary.done, summary.failed, summary.pending) == (6, 0, 0)


def test_conversation_turn_count_and_types_are_checked(server, tmp_path, make_images):
    items = _items(tmp_path, make_images, n=1)
    bad = json.dumps({"turns": [{"type": "gossip", "question": "q?", "answer": "a."}]})
    server.control(rules=[{"fault": "content", "match": "rsgpt4v_conversation", "content": bad, "count": 2}])
    config = GenerationConfig(turns=1, question_types={"counting": "how many"})
    generate(items, tmp_path / "s.sqlite", _client(server), config, progress=False)
    with JobStore(tmp_path / "s.sqlite") as store:
        job = store.job(items[0].image_id, "conversation")
        assert job["status"] == "failed" and "turns[0].type is 'gossip'; use one of counting" in job["error"]


def test_api_key_is_sent_but_never_stored_or_logged(server, tmp_path, make_images, caplog, capfd):
    secret = "sk-test-SECRET-0123456789"
    items = _items(tmp_path, make_images, n=2)
    # the server echoes the Authorization header in its error bodies; the client must redact it
    server.control(rules=[{"fault": "500", "echo": True, "count": 100, "match": "rsgpt4v_conversation"}])
    caplog.set_level("DEBUG")
    store_path = tmp_path / "s.sqlite"
    config = _client(server, api_key=secret, max_retries=1)
    assert secret not in repr(config)
    generate(items, store_path, config, progress=True)
    assert server.stats()["auth"] == [f"Bearer {secret}"]
    with JobStore(store_path) as store:
        errors = [f[2] for f in store.summary().failures]
    assert len(errors) == 2 and all("HTTP 500" in e and "Bearer ***" in e for e in errors)
    out, err = capfd.readouterr()
    assert secret not in caplog.text + out + err
    assert "generate: 100%" in err and "stage/s" in err and "tok_s=" in err and "failed=2" in err  # the progress bar
    for path in tmp_path.glob("s.sqlite*"):
        assert secret.encode() not in path.read_bytes()


def test_key_comes_from_environment(monkeypatch):
    monkeypatch.delenv("RSGPT4V_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai-env")
    assert ClientConfig("http://x/v1", "m").api_key == "from-openai-env"
    monkeypatch.setenv("RSGPT4V_API_KEY", "from-rsgpt4v-env")
    assert ClientConfig("http://x/v1", "m").api_key == "from-rsgpt4v-env"
    assert ClientConfig("http://x/v1", "m", api_key="explicit").api_key == "explicit"


def test_custom_images_folder(server, tmp_path, make_images):
    make_images(tmp_path / "mine" / "sub", 2, size=(40, 40))
    items = items_from_folder(tmp_path / "mine")
    assert [(i.source, i.split, i.image_path, i.width) for i in items] == [
        ("custom", "train", "sub/img_000.png", 40),
        ("custom", "train", "sub/img_001.png", 40),
    ]
    _, summary = generate(items, tmp_path / "s.sqlite", _client(server), progress=False)
    assert summary.done == 6
    detail = next(r for r in records_from_store(tmp_path / "s.sqlite") if r.task == "detail")
    detail.validate()
    assert detail.source == "custom" and detail.objects[0]["category"] == "building"


def test_prompt_template_override_reaches_the_server(server, tmp_path, make_images):
    items = _items(tmp_path, make_images, n=1)
    template = "Describe the ${width}x${height} scene. Boxes: ${box_format}. $$5 budget.\n" + (
        "Existing annotations (category: bounding box):\n${annotations}\n\nfor example ${box_example}\n"
    )
    config = GenerationConfig(templates={"local": template})
    generate(items, tmp_path / "s.sqlite", _client(server), config, progress=False)
    assert JobStore(tmp_path / "s.sqlite").summary().done == 3
    with pytest.raises(ValueError, match=r"template 'local' cannot be filled: bad placeholder 'colour'"):
        GenerationConfig(templates={"local": "a ${colour} image"})
    with pytest.raises(ValueError, match="Unknown prompt template 'locale'"):
        GenerationConfig(templates={"locale": "x"})


def test_unreadable_image_fails_only_that_image(server, tmp_path, make_images):
    items = _items(tmp_path, make_images, n=2)
    items[1].image_file = str(tmp_path / "gone.png")
    _, summary = generate(items, tmp_path / "s.sqlite", _client(server), progress=False)
    assert (summary.done, summary.failed, summary.pending) == (3, 1, 2)
    ((image_id, stage, reason),) = summary.failures
    assert (image_id, stage) == (items[1].image_id, "local")
    assert reason.startswith(f"cannot read image {tmp_path / 'gone.png'}")
