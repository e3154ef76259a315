"""CPU benchmark: one training step of MoE-LoRA vs PEFT LoRA vs a per-expert loop, on a Llama-shaped stack.

MoE-LoRA (4 experts x r 32, top-2) and PEFT LoRA (r 128: the same total rank) target every attention and MLP
linear of a randomly initialised Llama (hidden 1024, 4 layers, batch 4 x 512 tokens, float32, adapters in the model
dtype). The loop reference is the layout of the public MoE-LoRA code (MixLoRA, AdaMoLE): the same router and
weights, but each expert gathers its tokens and scatters its output back with ``index_add_``. Steps are timed round
robin (forward, loss + router aux loss, backward, AdamW step) and the median is reported.

    python benchmarks/bench_moe_lora.py            # prints one JSON line
    python benchmarks/bench_moe_lora.py --tiny     # seconds-long smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import types
from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model

from rsgpt4v.moe_lora import MoELoraConfig, MoELoraLayer, gates_from_logits

LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TARGET_RATIO = 1.15


def loop_adapter_output(layer: MoELoraLayer, adapter: str, x: torch.Tensor) -> torch.Tensor:
    """Per-expert loop reference for token routing: gather each expert's tokens, scatter back with ``index_add_``."""
    E, r, scaling = layer.num_experts[adapter], layer.r[adapter], layer.scaling[adapter]
    a, b = layer.moe_lora_A[adapter].weight, layer.moe_lora_B[adapter].weight
    flat = x.reshape(-1, x.shape[-1]).to(a.dtype)
    logits = F.linear(flat, layer.moe_lora_router[adapter].weight.to(a.dtype))
    gates, probs = gates_from_logits(logits, layer.top_k[adapter])
    layer._record(adapter, x, logits, probs, gates)
    out = torch.zeros(flat.shape[0], b.shape[0], dtype=a.dtype, device=x.device)
    for e in range(E):
        index = torch.nonzero(gates[:, e] > 0).squeeze(-1)
        if index.numel() == 0:
            continue
        h = F.linear(flat[index], a[e * r : (e + 1) * r])
        y = F.linear(h, b[:, e * r : (e + 1) * r]) * (gates[index, e, None] * scaling).to(a.dtype)
        out.index_add_(0, index, y)
    return out.view(*x.shape[:-1], -1)


def use_loop_reference(model: torch.nn.Module) -> None:
    """Switch every MoE-LoRA layer of ``model`` to :func:`loop_adapter_output`."""
    for module in model.modules():
        if isinstance(module, MoELoraLayer):
            module._adapter_output = types.MethodType(loop_adapter_output, module)


def adapter_configs(rank: int, experts: int, top_k: int, targets: Any, modules_to_save: list[str] | None = None):
    """Return the LoRA and MoE-LoRA configs compared (same total rank, same alpha / rank ratio of 2)."""
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, modules_to_save=modules_to_save)
    per_expert = rank // experts
    moe = MoELoraConfig(
        r=per_expert,
        lora_alpha=2 * per_expert,
        num_experts=experts,
        top_k=top_k,
        target_modules=targets,
        modules_to_save=modules_to_save,
    )
    return lora, moe


def train_step(model: Any, batch: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> float:
    """Run one training step and return its wall time in seconds (device-synchronised)."""
    sync = torch.cuda.synchronize if batch["input_ids"].is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    loss = model(**batch).loss
    if hasattr(model, "moe_aux_loss"):
        loss = loss + model.moe_aux_loss()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small shapes, 1 measured step (smoke test)")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per configuration")
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    from transformers import LlamaConfig, LlamaForCausalLM

    if args.tiny:
        hidden, inter, layers, heads, batch_size, seq, rank, steps = 64, 160, 2, 4, 2, 32, 16, 1
    else:
        hidden, inter, layers, heads, batch_size, seq, rank, steps = 1024, 2816, 4, 16, 4, 512, 128, args.steps
    config = LlamaConfig(
        vocab_size=1024,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=seq,
    )
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1024, (batch_size, seq), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    lora_config, moe_config = adapter_configs(rank, experts=4, top_k=2, targets=LINEARS)

    runs = {}
    for name, peft_config in (("lora", lora_config), ("moe", moe_config), ("loop", moe_config)):
        torch.manual_seed(0)
        model = get_peft_model(LlamaForCausalLM(config), peft_config)
        if name == "loop":
            use_loop_reference(model)
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        runs[name] = (model, optimizer)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for step in range(args.warmup + steps):
        for name, (model, optimizer) in runs.items():  # round robin: load changes hit every configuration alike
            elapsed = train_step(model, batch, optimizer)
            if step >= args.warmup:
                times[name].append(elapsed)
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "moe_lora_cpu",
        "shape": {"hidden": hidden, "layers": layers, "batch": batch_size, "seq": seq, "dtype": "float32"},
        "lora": f"PEFT LoRA r{rank}",
        "moe": f"MoE-LoRA 4x r{rank // 4} top-2",
        "threads": torch.get_num_threads(),
        "steps": steps,
        "lora_s_per_step": round(median["lora"], 4),
        "moe_s_per_step": round(median["moe"], 4),
        "loop_s_per_step": round(median["loop"], 4),
        "moe_over_lora": round(median["moe"] / median["lora"], 3),
        "loop_over_moe": round(median["loop"] / median["moe"], 3),
        "target_moe_over_lora": TARGET_RATIO,
    }
    result["meets_target"] = result["moe_over_lora"] <= TARGET_RATIO
    print(json.dumps(result))


if __name__ == "__main__":
    main()
