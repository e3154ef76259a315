"""Shared fixtures of the inference tests: a tiny LLaVA folder and a small synthetic build, made once."""

from __future__ import annotations

import pytest

from rsgpt4v.build import BuildInput, BuildOptions, build
from rsgpt4v.synthetic import synthetic_records
from rsgpt4v.tiny_model import save_tiny_model


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", image_size=32)


@pytest.fixture(scope="session")
def synthetic_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("builds") / "synthetic"
    build([BuildInput("synthetic", lambda: synthetic_records(10, size=32))], out, BuildOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def predictor(tiny_dir):
    from rsgpt4v.inference import Predictor

    return Predictor(tiny_dir, max_new_tokens=6, batch_size=4, device="cpu")
