"""Shared fixtures of the training tests: a tiny synthetic build of every task and tiny LLaVA models."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """A build of 12 synthetic 32 px images with every task (train and test splits)."""
    from rsgpt4v.build import BuildInput, BuildOptions, build
    from rsgpt4v.synthetic import synthetic_records

    out = tmp_path_factory.mktemp("training") / "build"
    build([BuildInput("synthetic", lambda: synthetic_records(12, 32, 3, 0.25))], out, BuildOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny LLaVA (32 px images, 16 image tokens) with its processor."""
    from rsgpt4v.tiny_model import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "llava", image_size=32)


@pytest.fixture
def tiny():
    """A fresh tiny LLaVA and its processor (32 px images, 16 image tokens)."""
    from rsgpt4v.tiny_model import tiny_llava

    return tiny_llava(image_size=32)
