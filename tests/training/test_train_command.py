"""`rsgpt4v train` from the command line and from a YAML file; two-process DDP on CPU."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
from processes import free_port, process_env

from rsgpt4v.training import command

FAST = [
    "--lora-r",
    "4",
    "--lora-alpha",
    "8",
    "--per-device-train-batch-size",
    "2",
    "--save-steps",
    "0",
    "--dataloader-num-workers",
    "0",
    "--gradient-checkpointing",
    "false",
    "--cpu",
]


def _summary(printed):
    """The JSON summary line `rsgpt4v train` prints (the Trainer's own log lines come before it)."""
    return next(json.loads(line) for line in printed.splitlines() if line.startswith('{"out": '))


def _parse(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_train_command_trains_evaluates_and_prints(tiny_model_dir, tiny_build, tmp_path, capsys):
    out = tmp_path / "run"
    args = _parse(
        [
            "--recipe",
            "moe-lora",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(tiny_build),
            "--config",
            "vqa",
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            *FAST,
            "--evaluate",
            "vqa",
            "--eval-limit",
            "5",
        ]
    )
    assert command.run(args) == 0
    printed = capsys.readouterr().out
    summary = _summary(printed)
    assert summary["steps"] == 2 and summary["recipe"] == "moe-lora" and summary["samples"]["rows"] >= 4
    assert (out / "adapter_config.json").is_file()
    report = json.loads((out / "eval_report.json").read_text())
    assert report["vqa"]["scored"] == 5 and 0.0 <= report["vqa"]["overall"] <= 1.0
    assert len((out / "predictions" / "vqa-test.jsonl").read_text().splitlines()) == 5


def test_yaml_config_file_with_command_line_overrides(tiny_model_dir, tiny_build, tmp_path, capsys):
    out = tmp_path / "yaml-run"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"recipe: lora\nmodel: {tiny_model_dir}\ndata: {tiny_build}\nconfig: caption\noutput_dir: {out}\n"
        "max_steps: 5\nlearning_rate: 0.001\nlora_r: 4\nlora_alpha: 8\nper_device_train_batch_size: 2\n"
        "save_steps: 0\ndataloader_num_workers: 0\ngradient_checkpointing: false\ncpu: true\n"
    )
    assert command.run(_parse(["--config-file", str(config), "--max-steps", "1"])) == 0
    assert _summary(capsys.readouterr().out)["steps"] == 1
    saved = json.loads((out / "rsgpt4v_recipe.json").read_text())
    assert (saved["name"], saved["learning_rate"], saved["lora_r"]) == ("lora", 0.001, 4)
    assert json.loads((out / "rsgpt4v_data.json").read_text())["configs"] == ["caption"]


def test_bad_options_are_clear_errors(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("recipe: lora\nlearning_rte: 1\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) learning_rte"):
        command.run(_parse(["--config-file", str(config)]))
    with pytest.raises(ValueError, match="--model is required"):
        command.run(_parse(["--out", str(tmp_path / "o")]))
    with pytest.raises(SystemExit):
        _parse(["--gradient-checkpointing", "maybe"])


def test_streaming_needs_max_steps(tiny_model_dir, tiny_build, tmp_path):
    args = _parse(
        ["--model", str(tiny_model_dir), "--data", str(tiny_build), "--out", str(tmp_path), "--streaming", *FAST]
    )
    with pytest.raises(ValueError, match="streaming dataset has no length: give --max-steps"):
        command.run(args)


DDP_SCRIPT = """
import json, sys
from rsgpt4v.training.command import train
from rsgpt4v.training.recipes import recipe
model, data, out, streaming = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
chosen = recipe("moe-lora", lora_r=4, lora_alpha=8, per_device_train_batch_size=2, max_steps=3, save_steps=0,
                dataloader_num_workers=0, gradient_checkpointing=False, logging_steps=1)
result = train(model, data, out, chosen, config="vqa", streaming=streaming, use_cpu=True, disable_tqdm=True)
import torch.distributed as dist
rank = dist.get_rank() if dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_initialized() else 1
json.dump({"rank": rank, "world": world, "steps": result.global_step, "rows": result.collator_stats.get("rows", 0)},
          open(f"{out}/rank{rank}.json", "w"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("streaming", [False, True], ids=["map-style", "streaming"])
def test_two_process_ddp_on_cpu_trains_and_saves(tiny_model_dir, tiny_build, tmp_path, streaming):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    out.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            str(script),
            str(tiny_model_dir),
            str(tiny_build),
            str(out),
            "1" if streaming else "0",
        ],
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [3, 3]
    assert all(r["rows"] > 0 for r in ranks)
    assert (out / "adapter_model.safetensors").is_file() and (out / "rsgpt4v_recipe.json").is_file()
