"""The MoE-LoRA benchmark scripts run end to end on tiny shapes (values are not checked: benchmarks are not tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_script(name):
    code = (
        "import runpy, sys; "
        f"sys.argv = [{name!r}, '--tiny']; "
        f"runpy.run_path({str(BENCHMARKS / name)!r}, run_name='__main__'); "
        "print(json.dumps({'heavy': [m for m in ('datasets', 'gradio') if m in sys.modules]}))"
    )
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.mark.slow
def test_cpu_benchmark_prints_one_json_line_with_the_ratios():
    *lines, imports = run_script("bench_moe_lora.py")
    assert len(lines) == 1
    assert {"moe_over_lora", "loop_over_moe", "lora_s_per_step", "moe_s_per_step"} <= lines[0].keys()
    assert lines[0]["moe_over_lora"] > 0


@pytest.mark.slow
def test_gpu_benchmark_runs_tiny_without_datasets_or_gradio():
    *lines, imports = run_script("gpu_moe_lora.py")
    assert imports == {"heavy": []}
    rows, summary = lines[:-1], lines[-1]
    assert [r["config"] for r in rows] == ["peft_lora_bf16", "peft_lora_default", "moe_lora", "moe_lora_loop"]
    assert all(r["s_per_step"] > 0 and r["tokens_per_s"] > 0 and "peak_gib" in r for r in rows)
    assert {"moe_over_lora", "loop_over_moe", "device"} <= summary.keys()
