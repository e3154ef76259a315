"""GPU benchmark: MoE-LoRA vs PEFT LoRA training steps on LLaVA-1.5-7B shapes (random weights, bf16).

CLIP ViT-L/14-336 + Llama-7B (the ``llava-hf/llava-1.5-7b-hf`` layout, built from configs on the GPU in bf16 with
random weights, nothing downloaded), batch 8 x about 1,000 tokens (576 image tokens), non-reentrant gradient
checkpointing, every language-model linear targeted, the projector trained (``modules_to_save``). Rows, each built
once: PEFT LoRA r 128 with adapters in bf16, PEFT's default LoRA (adapters upcast to float32), MoE-LoRA 4 x r 32
top-2, and the per-expert loop reference. 3 warm-up and 10 measured steps each (forward, loss + router aux loss,
backward, AdamW step).

Prints one JSON line per configuration (s/step, tokens/s, peak GiB) and a last summary line with ``moe_over_lora``
(MoE-LoRA / PEFT LoRA bf16) and ``loop_over_moe``. Targets on one H100: ``moe_over_lora`` <= 1.10 (1.05 stretch),
``loop_over_moe`` >= 3.

    python benchmarks/gpu_moe_lora.py           # one GPU, under 5 minutes on an H100
    python benchmarks/gpu_moe_lora.py --tiny    # tiny shapes on any device (smoke test)
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
from pathlib import Path

import torch
from peft import get_peft_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_moe_lora import adapter_configs, train_step, use_loop_reference  # noqa: E402

from rsgpt4v.moe_lora.config import LLAVA_MODULES_TO_SAVE, LLAVA_TARGET_MODULES  # noqa: E402

FULL = {
    "vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                   image_size=336, patch_size=14, projection_dim=768),
    "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5),
    "batch": 8, "text_tokens": 424, "rank": 128, "warmup": 3, "steps": 10,
}  # fmt: skip
TINY = {
    "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   image_size=28, patch_size=14, projection_dim=32),
    "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=32064, max_position_embeddings=256),
    "batch": 2, "text_tokens": 12, "rank": 16, "warmup": 1, "steps": 1,
}  # fmt: skip
IMAGE_TOKEN, PAD_TOKEN = 32000, 32001


def build_llava(shape: dict, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Build a randomly initialised LLaVA-1.5 model of ``shape`` directly on ``device`` in ``dtype``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(**shape["vision"])
    num_image_tokens = (vision.image_size // vision.patch_size) ** 2
    config = LlavaConfig(
        vision_config=vision,
        text_config=LlamaConfig(**shape["text"], pad_token_id=PAD_TOKEN),
        image_token_id=IMAGE_TOKEN,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=num_image_tokens,
    )
    torch.manual_seed(0)
    with device:
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model


def make_batch(shape: dict, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Random ``input_ids`` (BOS, the image tokens, text), ``pixel_values`` and ``labels`` (image tokens masked)."""
    vision = shape["vision"]
    num_image_tokens = (vision["image_size"] // vision["patch_size"]) ** 2
    g = torch.Generator().manual_seed(0)
    b, t = shape["batch"], shape["text_tokens"]
    text = torch.randint(3, IMAGE_TOKEN, (b, t), generator=g)
    ids = torch.cat([torch.ones(b, 1, dtype=torch.long), torch.full((b, num_image_tokens), IMAGE_TOKEN), text], 1)
    labels = ids.clone()
    labels[ids == IMAGE_TOKEN] = -100
    pixels = torch.randn(b, 3, vision["image_size"], vision["image_size"], generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels, "pixel_values": pixels}
    return {k: v.to(device, dtype=dtype if v.is_floating_point() else None) for k, v in batch.items()}


def run(name: str, shape: dict, device: torch.device, dtype: torch.dtype) -> dict:
    """Build the model for configuration ``name``, time its training steps and return its JSON row."""
    lora, moe = adapter_configs(shape["rank"], 4, 2, LLAVA_TARGET_MODULES, list(LLAVA_MODULES_TO_SAVE))
    model = build_llava(shape, device, dtype)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    if name == "peft_lora_bf16":
        model = get_peft_model(model, lora, autocast_adapter_dtype=False)
    elif name == "peft_lora_default":
        model = get_peft_model(model, lora)  # PEFT's default: adapters upcast to float32
    else:
        model = get_peft_model(model, moe)
        if name == "moe_lora_loop":
            use_loop_reference(model)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batch = make_batch(shape, device, dtype)
    for _ in range(shape["warmup"]):
        train_step(model, batch, optimizer)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = [train_step(model, batch, optimizer) for _ in range(shape["steps"])]
    seconds = statistics.mean(times)
    tokens = batch["input_ids"].numel()
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    row = {
        "config": name,
        "s_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_gib": None if peak is None else round(peak, 2),
        "tokens_per_step": tokens,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    del model, optimizer, batch
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on any device (smoke test)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not args.tiny and device.type != "cuda":
        parser.error("the full benchmark needs a CUDA GPU; use --tiny for a smoke run")
    shape = TINY if args.tiny else FULL
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = {}
    for config in ("peft_lora_bf16", "peft_lora_default", "moe_lora", "moe_lora_loop"):
        rows[config] = run(config, shape, device, torch.bfloat16)
        print(json.dumps({"benchmark": "moe_lora_gpu", "device": name, "tiny": args.tiny, **rows[config]}), flush=True)
    lora, moe, loop = (rows[c]["s_per_step"] for c in ("peft_lora_bf16", "moe_lora", "moe_lora_loop"))
    summary = {
        "benchmark": "moe_lora_gpu",
        "device": name,
        "tiny": args.tiny,
        "moe_over_lora": round(moe / lora, 3),
        "loop_over_moe": round(loop / moe, 3),
        "lora_default_over_lora": round(rows["peft_lora_default"]["s_per_step"] / lora, 3),
        "targets": {"moe_over_lora": 1.10, "moe_over_lora_stretch": 1.05, "loop_over_moe": 3.0},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
