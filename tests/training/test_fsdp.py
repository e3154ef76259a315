"""FSDP2 with two CPU processes (gloo): `full` and `lora` train sharded and save complete, loadable weights;
`moe-lora` resumes from a sharded checkpoint on the same losses.

accelerate 1.15 never selects FSDP for a CPU run: ``accelerate launch`` refuses ``--cpu`` with ``--use_fsdp``, and
``AcceleratorState`` switches to ``DistributedType.FSDP`` only from a GPU-like distributed type (a ``cpu=True`` run
stays ``MULTI_CPU``: DDP, the FSDP settings silently unused). PyTorch's ``fully_shard`` itself runs on gloo, so the
launched script sets accelerate's distributed type to FSDP before the Trainer is built; everything after that
(sharding, training, gathering the full state dict for the final save) is accelerate's, the Trainer's and ours,
with the settings of the shipped ``configs/accelerate/fsdp.yaml`` (FSDP2, SHARDED_STATE_DICT, rank-0 loading).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from processes import ROOT, free_port, process_env

from rsgpt4v.training import command

FSDP_CONFIG = ROOT / "configs" / "accelerate" / "fsdp.yaml"
SETTINGS = dict(
    lora_r=4,
    lora_alpha=8,
    lora_dropout=0.0,
    max_steps=2,
    warmup_ratio=0.0,
    learning_rate=0.5,
    save_steps=0,
    dataloader_num_workers=0,
    gradient_checkpointing=False,
    logging_steps=1,
)
# SGD and no dropout (whose masks differ between one process and two): the update is linear in the gradient, so the
# sharded and the single-process runs agree to float rounding (AdamW's first step, about lr * sign(gradient), turns
# rounding noise in near-zero gradients into lr-sized differences).
OVERRIDES = dict(optim="sgd", use_cpu=True, disable_tqdm=True)

FSDP_SCRIPT = """
import json, sys
from accelerate import Accelerator, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
from torch.distributed.tensor import DTensor
from transformers import TrainerCallback
from rsgpt4v.training.command import train
from rsgpt4v.training.recipes import recipe

model, data, out = sys.argv[1:4]
settings, overrides = json.loads(sys.argv[4]), json.loads(sys.argv[5])
plugin = FullyShardedDataParallelPlugin()  # from the FSDP_* variables `accelerate launch` set from fsdp.yaml
state = Accelerator(cpu=True, fsdp_plugin=plugin).state  # MULTI_CPU over gloo: accelerate's choice on CPU
PartialState().distributed_type = state.distributed_type = DistributedType.FSDP
state.fsdp_plugin = plugin
configured = plugin.state_dict_type

def losses(result):
    return [h["loss"] for h in result.log_history if "loss" in h]

class Steps(TrainerCallback):
    def __init__(self):
        self.count = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.count += 1

class Shards(TrainerCallback):
    def __init__(self):
        self.seen = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        for n, p in model.named_parameters():
            if isinstance(p, DTensor):
                self.seen[n] = [list(p.shape), list(p.to_local().shape)]

for name in ("full", "lora"):
    plugin.set_state_dict_type(configured)
    shards = Shards()
    result = train(model, data, f"{out}/{name}", recipe(name, per_device_train_batch_size=2, **settings),
                   config="vqa", callbacks=[shards], accelerator_config={"use_configured_state": True}, **overrides)
    record = {"type": str(state.distributed_type), "world": PartialState().num_processes, "sharded": shards.seen,
              "losses": losses(result),
              "state_dict_type": [str(configured), str(plugin.state_dict_type)]}
    with open(f"{out}/{name}/rank{PartialState().process_index}.json", "w") as f:
        json.dump(record, f)

# moe-lora, 4 steps with a sharded checkpoint at step 2, then the same run resumed from that checkpoint
checkpointed = {**settings, "max_steps": 4, "save_steps": 2, "save_total_limit": None}
resumable = recipe("moe-lora", per_device_train_batch_size=2, **checkpointed)
runs = {}
for key, resume in (("straight", None), ("resumed", f"{out}/resume/checkpoint-2")):
    plugin.set_state_dict_type(configured)
    steps = Steps()
    result = train(model, data, f"{out}/resume", resumable, config="vqa", resume=resume, callbacks=[steps],
                   accelerator_config={"use_configured_state": True}, **overrides)
    runs[key] = {"losses": losses(result), "steps": steps.count}
with open(f"{out}/resume/rank{PartialState().process_index}.json", "w") as f:
    json.dump(runs, f)
"""


def _launch_fsdp(model, data, out):
    out.mkdir()
    script = out / "fsdp_train.py"
    script.write_text(FSDP_SCRIPT)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(FSDP_CONFIG)]
    launch += ["--num_processes", "2", "--mixed_precision", "no", "--main_process_port", str(free_port())]
    args = [str(script), str(model), str(data), str(out), json.dumps(SETTINGS), json.dumps(OVERRIDES)]
    proc = subprocess.run(launch + args, env=process_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _losses(log_history):
    return [h["loss"] for h in log_history if "loss" in h]


def _check_sharded_run(folder):
    """Both ranks ran accelerate's FSDP with every parameter split along dim 0 between them, on the same losses."""
    ranks = [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r in ranks:
        assert (r["type"], r["world"]) == ("DistributedType.FSDP", 2)
        # fsdp.yaml's SHARDED_STATE_DICT, switched to FULL_STATE_DICT by `train` for the final save
        assert [t.rsplit(".", 1)[-1] for t in r["state_dict_type"]] == ["SHARDED_STATE_DICT", "FULL_STATE_DICT"]
    shards = [r["sharded"] for r in ranks]
    assert shards[0].keys() == shards[1].keys() and len(shards[0]) > 50
    for name, (full, local) in shards[0].items():
        other = shards[1][name][1]
        assert local[0] + other[0] == full[0] and local[1:] == other[1:] == full[1:] and local[0] < full[0], name
    assert ranks[0]["losses"] == ranks[1]["losses"] and len(ranks[0]["losses"]) == SETTINGS["max_steps"]
    return ranks[0]["losses"]


@pytest.mark.slow
def test_fsdp2_on_two_cpu_processes_saves_the_gathered_weights(tiny_model_dir, tiny_build, tmp_path):
    import torch
    from PIL import Image

    from rsgpt4v.inference import Predictor, messages
    from rsgpt4v.training.recipes import read_recipe, recipe

    _launch_fsdp(tiny_model_dir, tiny_build, tmp_path / "fsdp")
    initial = _weights(tiny_model_dir / "model.safetensors")
    for name, weights in (("full", "model.safetensors"), ("lora", "adapter_model.safetensors")):
        sharded_out, single_out = tmp_path / "fsdp" / name, tmp_path / "single" / name
        losses = _check_sharded_run(sharded_out)
        # the same global batch (2 x 2 rows) in one process
        single = command.train(
            tiny_model_dir,
            tiny_build,
            single_out,
            recipe(name, per_device_train_batch_size=4, **SETTINGS),
            config="vqa",
            **OVERRIDES,
        )
        assert losses == pytest.approx(_losses(single.log_history), rel=1e-5), name

        # complete: every tensor, at full shape, equal to the single-process run's
        saved, expected = _weights(sharded_out / weights), _weights(single_out / weights)
        assert sorted(saved) == sorted(expected), name
        assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in expected.items()}, name
        for key, value in expected.items():
            torch.testing.assert_close(saved[key], value, rtol=1e-4, atol=1e-6, msg=key)
        if name == "full":
            moved = [k for k in saved if not torch.allclose(saved[k], initial[k], atol=1e-4)]
            assert any("language_model" in k for k in moved) and any("multi_modal_projector" in k for k in moved)
        else:
            assert any("lora_B" in k and saved[k].abs().max() > 1e-3 for k in saved)  # lora_B starts at zero

        # processor and recipe next to the weights; the folder loads into the single-process run's model
        assert read_recipe(sharded_out).name == name and (sharded_out / "processor_config.json").is_file()
        adapter = name == "lora"
        predictor = Predictor(tiny_model_dir if adapter else sharded_out, sharded_out if adapter else None)
        reference = Predictor(tiny_model_dir if adapter else single_out, single_out if adapter else None)
        loaded, wanted = predictor.model.state_dict(), reference.model.state_dict()
        assert loaded.keys() == wanted.keys()
        for key, value in wanted.items():
            torch.testing.assert_close(loaded[key], value, rtol=1e-4, atol=1e-6, msg=key)
        predictor.max_new_tokens = 3
        answers = predictor.generate([(Image.new("RGB", (32, 32), "gray"), messages("Is there a ship?"))])
        assert len(answers) == 1 and isinstance(answers[0], str)

    # resuming from a sharded checkpoint (optimizer and model shards, RNG, data position) continues the same losses
    checkpoint = tmp_path / "fsdp" / "resume" / "checkpoint-2"
    assert [p.name for p in checkpoint.glob("pytorch_model_fsdp_0")] and (checkpoint / "trainer_state.json").is_file()
    for rank in (0, 1):
        runs = json.loads((tmp_path / "fsdp" / "resume" / f"rank{rank}.json").read_text())
        straight, resumed = runs["straight"]["losses"], runs["resumed"]["losses"]
        assert (runs["straight"]["steps"], runs["resumed"]["steps"]) == (4, 2)  # resumed at step 2, not from 0
        assert len(straight) == len(resumed) == 4
        assert resumed == pytest.approx(straight, rel=1e-5)
        assert straight[2] != straight[0]
