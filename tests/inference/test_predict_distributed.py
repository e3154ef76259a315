from __future__ import annotations

import json
import subprocess
import sys

import pytest
from processes import free_port, process_env

from rsgpt4v.predict import predict

SCRIPT = """
import argparse, sys
from rsgpt4v import predict
parser = argparse.ArgumentParser()
predict.add_arguments(parser)
args = parser.parse_args(sys.argv[1:])
args.progress = False
sys.exit(predict.run(args))
"""


@pytest.mark.slow
def test_two_processes_shard_resume_and_merge(tmp_path, tiny_dir, synthetic_build, predictor):
    single = tmp_path / "single.jsonl"
    predict(predictor, synthetic_build, "grounding", "test", single, progress=False)
    expected = {json.loads(line)["question_id"]: json.loads(line)["text"] for line in single.read_text().splitlines()}
    out = tmp_path / "dist.jsonl"
    predict(predictor, synthetic_build, "grounding", "test", out, limit=3, progress=False)  # resumed below
    script = tmp_path / "run_predict.py"
    script.write_text(SCRIPT)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        str(script), "--model", str(tiny_dir), "--data", str(synthetic_build), "--config", "grounding",
        "--out", str(out), "--max-new-tokens", "6", "--batch-size", "4", "--device", "cpu",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=process_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{len(expected) - 3} predicted, 3 already there, {len(expected)} items" in done.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {line["question_id"]: line["text"] for line in lines} == expected
    assert len(lines) == len(expected)
    assert not list(tmp_path.glob("dist.jsonl.part-*"))
