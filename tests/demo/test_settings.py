"""Configuration by arguments or environment, the offline default, the command, and a light package import."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from rsgpt4v.demo import command
from rsgpt4v.demo.settings import SAMPLE_IMAGES, SAMPLE_SIZE, ensure_sample, resolve_settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("RSGPT4V_DATA", "RSGPT4V_MODEL", "RSGPT4V_ADAPTER"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_is_the_cached_synthetic_sample_and_the_tiny_model(clean_env, sample):
    settings = resolve_settings()
    assert settings.sample and settings.data == str(sample) and settings.model is None
    text = " ".join(settings.notices())
    assert "tiny untrained demo model" in text and f"({SAMPLE_IMAGES} generated scenes)" in text


def test_sample_is_built_once_and_reused(sample):
    import json

    report = sample / "build_report.json"
    before = report.stat().st_mtime_ns
    assert ensure_sample() == sample and report.stat().st_mtime_ns == before
    inputs = json.loads(report.read_text())["inputs"]
    assert inputs == [
        {"files": [], "name": "synthetic", "options": {"n_images": SAMPLE_IMAGES, "seed": 0, "size": SAMPLE_SIZE}}
    ]
    from PIL import Image

    from rsgpt4v.data import load

    image = load("caption", "test", path=sample)[0]["image"]
    assert isinstance(image, Image.Image) and image.size == (SAMPLE_SIZE, SAMPLE_SIZE)


def test_environment_configures_and_arguments_win(clean_env, sample, tmp_path):
    clean_env.setenv("RSGPT4V_DATA", str(sample))
    clean_env.setenv("RSGPT4V_MODEL", "owner/model-a")
    clean_env.setenv("RSGPT4V_ADAPTER", "owner/adapter-a")
    settings = resolve_settings()
    assert (settings.data, settings.model, settings.adapter, settings.sample) == (
        str(sample),
        "owner/model-a",
        "owner/adapter-a",
        False,
    )
    assert "`owner/model-a` with adapter `owner/adapter-a`" in " ".join(settings.notices())
    settings = resolve_settings(data="owner/dataset", model="owner/model-b", adapter=None)
    assert (settings.data, settings.model, settings.adapter) == ("owner/dataset", "owner/model-b", "owner/adapter-a")


def test_bad_configuration_is_refused(clean_env, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder and not a Hub id"):
        resolve_settings(data=str(tmp_path / "missing" / "x" / "y"))
    with pytest.raises(ValueError, match="adapter .* without its base model"):
        resolve_settings(adapter="owner/adapter")


def test_command_arguments_and_run(monkeypatch):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--port", "7999", "--data", "d", "--model", "m", "--adapter", "a"])
    assert (args.port, args.host, args.data, args.model, args.adapter, args.concurrency) == (
        7999,
        "127.0.0.1",
        "d",
        "m",
        "a",
        1,
    )
    calls = {}

    class FakeDemo:
        def launch(self, **kwargs):
            calls["launch"] = kwargs

    def fake_build(data, model, adapter, **kwargs):
        calls["build"] = (data, model, adapter, kwargs)
        return FakeDemo()

    import rsgpt4v.demo.app as app

    monkeypatch.setattr(app, "build_demo", fake_build)
    assert command.run(args) == 0
    assert calls == {
        "build": ("d", "m", "a", {"concurrency_limit": 1}),
        "launch": {"server_name": "127.0.0.1", "server_port": 7999},
    }
    args.concurrency = 0
    with pytest.raises(ValueError, match="--concurrency must be at least 1"):
        command.run(args)


def test_importing_the_demo_package_stays_light():
    code = (
        "import sys, rsgpt4v.demo, rsgpt4v.demo.command; "
        "print(sorted({'gradio', 'torch', 'datasets'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
