"""Shared fixtures of the demo tests: the demo's own synthetic sample (built once), a launched demo, reports."""

from __future__ import annotations

import json
import os

import pytest

#: Short answers keep the tiny model fast; the Ask tests compare against a Predictor with the same limit.
MAX_NEW_TOKENS = 8


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """The folder ``build_demo()`` builds on first start, in a cache folder of this test session."""
    cache = tmp_path_factory.mktemp("rsgpt4v_cache")
    previous = os.environ.get("RSGPT4V_CACHE")
    os.environ["RSGPT4V_CACHE"] = str(cache)
    from rsgpt4v.demo.settings import ensure_sample

    folder = ensure_sample()
    yield folder
    if previous is None:
        os.environ.pop("RSGPT4V_CACHE", None)
    else:
        os.environ["RSGPT4V_CACHE"] = previous


@pytest.fixture(scope="session")
def explorer(sample):
    from rsgpt4v.demo.explore import Explorer

    return Explorer(str(sample))


@pytest.fixture(scope="session")
def served(sample):
    """The default demo (no data, no model given) launched on loopback; yields ``(demo, url)``."""
    for name in ("RSGPT4V_DATA", "RSGPT4V_MODEL", "RSGPT4V_ADAPTER"):
        assert name not in os.environ, f"unset {name} to run the demo tests"
    from rsgpt4v.demo import build_demo

    demo = build_demo(max_new_tokens=MAX_NEW_TOKENS, concurrency_limit=2)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    # One question first: it waits until the demo's model is loaded. tiny_llava seeds torch's global generator,
    # so a second tiny model built while the demo's is still being built would get other weights.
    from gradio_client import Client

    Client(url, verbose=False).predict(None, "synthetic-000000-caption-0", "caption", "", [], api_name="/ask")
    yield demo, url
    demo.close()


@pytest.fixture(scope="session")
def tiny_predictor(served):
    """The demo's offline model, built through the library API (same seed and size as the demo)."""
    from rsgpt4v.inference import Predictor
    from rsgpt4v.tiny_model import tiny_llava

    model, processor = tiny_llava(image_size=32, seed=0)
    return Predictor(model, processor=processor, device="cpu", max_new_tokens=MAX_NEW_TOKENS)


@pytest.fixture(scope="session")
def reports(sample, tmp_path_factory):
    """Two real reports of ``rsgpt4v evaluate`` on the sample's vqa and grounding test items: A all right, B not."""
    from rsgpt4v.data import items, load
    from rsgpt4v.evaluation.report import evaluate, write_report

    out = tmp_path_factory.mktemp("reports")
    gold = [it for config in ("vqa", "grounding") for it in items(load(config, "test", path=sample))]
    paths = []
    for name, wrong_every in (("a", 0), ("b", 3)):
        preds = out / f"{name}.jsonl"
        with preds.open("w") as f:
            for k, it in enumerate(gold):
                text = "no idea" if wrong_every and k % wrong_every == 0 else it["answer"]
                f.write(json.dumps({"question_id": it["question_id"], "text": text}) + "\n")
        report = evaluate(preds, sample, configs=["vqa", "grounding"], split="test", meteor=False)
        write_report(report, out / name, plots=False)
        paths.append(out / name / "report.json")
    return paths
