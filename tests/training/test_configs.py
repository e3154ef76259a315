"""The shipped scale-out configs parse and say what they claim (DeepSpeed itself is not installed here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(
    ("name", "stage", "offload"), [("zero2", 2, False), ("zero3", 3, False), ("zero3_offload", 3, True)]
)
def test_deepspeed_configs_parse(name, stage, offload):
    config = json.loads((CONFIGS / "deepspeed" / f"{name}.json").read_text())
    zero = config["zero_optimization"]
    assert zero["stage"] == stage
    # batch sizes, accumulation, clipping and precision come from TrainingArguments ("auto"), so the recipe decides
    for key in (
        "train_micro_batch_size_per_gpu",
        "train_batch_size",
        "gradient_accumulation_steps",
        "gradient_clipping",
    ):
        assert config[key] == "auto"
    assert config["bf16"]["enabled"] == "auto"
    assert ("offload_optimizer" in zero and "offload_param" in zero) == offload
    if offload:
        assert zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "cpu"
    if stage == 3:
        assert zero["stage3_gather_16bit_weights_on_model_save"] is True  # saving gathers the adapter weights


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_parse_and_point_at_existing_files(path):
    config = yaml.safe_load(path.read_text())
    assert config["distributed_type"] in {"MULTI_GPU", "DEEPSPEED", "FSDP", "MULTI_CPU"}
    assert config["num_processes"] >= 2
    if config["distributed_type"] == "DEEPSPEED":
        target = CONFIGS.parent / config["deepspeed_config"]["deepspeed_config_file"]
        assert target.is_file()
    if config["distributed_type"] == "FSDP":
        import transformers

        for cls in config["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"].split(","):
            assert hasattr(transformers, cls) or cls in ("LlamaDecoderLayer", "CLIPEncoderLayer")
        from transformers.models.clip.modeling_clip import CLIPEncoderLayer  # noqa: F401
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer  # noqa: F401


def test_accelerate_accepts_the_fsdp_plugin_settings():
    from accelerate.utils import FullyShardedDataParallelPlugin

    config = yaml.safe_load((CONFIGS / "accelerate" / "fsdp.yaml").read_text())["fsdp_config"]
    plugin = FullyShardedDataParallelPlugin(
        fsdp_version=config["fsdp_version"],
        auto_wrap_policy="transformer_based_wrap",
        transformer_cls_names_to_wrap=config["fsdp_transformer_layer_cls_to_wrap"].split(","),
        reshard_after_forward=config["fsdp_reshard_after_forward"],
        state_dict_type=config["fsdp_state_dict_type"],
    )
    assert plugin.fsdp_version == 2
