"""End to end: a tiny LLaVA trained with the ``moe-lora`` recipe learns presence and counting from pixels.

Runs ``benchmarks/bench_learning.py`` (its own synthetic build of 3,000 train / 300 test images at 64 px, a tiny
model, ``rsgpt4v.training.command.train``, the Predictor and the VQA metric) in a fresh process and checks the
accuracies it prints against issue 6's bar: presence at least 15 points and count at least 10 points above the
majority class, both above the untrained model. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from processes import ROOT

pytestmark = pytest.mark.slow


def test_moe_lora_learns_presence_and_count():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_learning.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    majority, untrained, trained = result["majority"], result["untrained"], result["trained"]
    assert 0.4 < majority["presence"] < 0.6  # balanced yes/no per category by construction
    assert trained["presence"] >= majority["presence"] + 0.15, result
    assert trained["count"] >= majority["count"] + 0.10, result
    assert trained["presence"] > untrained.get("presence", 0.0), result
    assert trained["count"] > untrained.get("count", 0.0), result
    assert result["presence_over_majority"] == pytest.approx(trained["presence"] - majority["presence"], abs=1e-3)
