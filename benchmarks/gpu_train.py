"""GPU training step: rsgpt4v's Trainer + collator + recipes on LLaVA-1.5-7B shapes vs PEFT's LoRA defaults.

Random weights with ``llava-hf/llava-1.5-7b-hf``'s shapes (CLIP ViT-L/14 at 336 px, Llama-2-7B), synthetic rows
(a 336 px image and a multi-turn conversation of about 1,000 tokens), batch 8, bf16, gradient checkpointing.
In one run, each for ``--steps`` timed optimizer steps after ``--warmup`` steps:

- ``raw_lora``: our ``lora`` model doing forward + backward + AdamW step on one pre-collated batch (no data
  pipeline, no Trainer);
- ``peft_default``: the ``transformers.Trainer`` with our collator on the same rows, PEFT's
  ``LoraConfig(r=128, lora_alpha=256)`` applied with ``get_peft_model`` at its defaults
  (``autocast_adapter_dtype=True`` upcasts the adapters to float32), model in bf16, ``bf16=True``;
- ``lora`` and ``moe-lora``: ``RSTrainer`` with the recipes (adapters kept in bf16).

Prints one JSON line with seconds per step, tokens/s and peak memory of each, and ``pipeline_overhead`` (``lora``
Trainer step / raw step - 1), ``lora_over_peft_default`` (step-time ratio) and ``moe_over_lora``. Targets on one
H100: overhead <= 0.05, lora_over_peft_default <= 1.0, moe_over_lora <= 1.10. DeepSpeed ZeRO-3 saving is not
exercised here (DeepSpeed is not a dependency). ``--tiny`` runs the same code on CPU with tiny shapes (a smoke test
of the script, timings meaningless). Imports neither ``datasets`` nor ``gradio``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any


def _model_and_processor(tiny: bool) -> tuple[Any, Any]:
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from rsgpt4v.tiny_model import tiny_llava, tiny_processor

    if tiny:
        return tiny_llava(image_size=32, patch_size=8)
    size, patch = 336, 14
    processor = tiny_processor(image_size=size, patch_size=patch)  # LLaVA-1.5's image size and template
    tokenizer = processor.tokenizer
    vision = CLIPVisionConfig(
        image_size=336,
        patch_size=14,
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        projection_dim=768,
    )
    text = LlamaConfig(
        vocab_size=32064,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
    )
    text.pad_token_id, text.bos_token_id, text.eos_token_id = tokenizer.pad_token_id, 1, 2
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(size // patch) ** 2,
    )
    with torch.device("cuda"):
        model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    return model, processor


def _rows(n: int, tiny: bool) -> list[dict[str, Any]]:
    from PIL import Image

    turns = 2 if tiny else 11  # about 1,000 tokens per row with 576 image tokens at full size
    rows = []
    for i in range(n):
        conversations = []
        for k in range(turns):
            question = f"How many buildings are next to the road in the upper left part of scene {i}?"
            conversations.append({"from": "human", "value": ("<image>\n" if k == 0 else "") + question})
            conversations.append({"from": "gpt", "value": f"There are {k + 2} buildings."})
        rows.append(
            {
                "id": f"bench/{i}",
                "image": Image.new("RGB", (336, 300), (i % 255, 90, 40)),
                "task": 1,
                "conversations": conversations,
            }
        )
    return rows


def _peak_gib(device: str) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0


def _timed_trainer(
    trainer_cls: Any, model: Any, settings: Any, rows: list, collator: Any, args: argparse.Namespace, **kwargs: Any
) -> dict[str, float]:
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.start)

    device = "cpu" if args.tiny else "cuda"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        training_args = settings.training_arguments(
            out,
            max_steps=args.warmup + args.steps,
            save_strategy="no",
            logging_steps=10_000,
            use_cpu=args.tiny,
            dataloader_num_workers=0 if args.tiny else 4,
            disable_tqdm=True,
            per_device_train_batch_size=args.batch,
            bf16=not args.tiny,
        )
        trainer = trainer_cls(
            model=model, args=training_args, train_dataset=rows, data_collator=collator, callbacks=[Clock()], **kwargs
        )
        trainer.remove_callback(PrinterCallback)  # stdout carries only the JSON line
        trainer.train()
    step = sum(times[args.warmup :]) / max(1, len(times[args.warmup :]))
    tokens = collator(rows[: args.batch])["attention_mask"].sum().item()
    return {
        "s_per_step": round(step, 4),
        "tokens_per_s": round(tokens / step, 1),
        "peak_gib": round(_peak_gib(device), 2),
    }


def _raw_step(model: Any, batch: dict, args: argparse.Namespace) -> dict[str, float]:
    import torch

    device = "cpu" if args.tiny else "cuda"
    batch = {k: v.to(device) for k, v in batch.items()}
    if not args.tiny:
        batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    times = []
    for _ in range(args.warmup + args.steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=not args.tiny):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = sum(times[args.warmup :]) / args.steps
    return {"s_per_step": round(step, 4), "tokens_per_s": round(batch["attention_mask"].sum().item() / step, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run with tiny shapes")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer

    from rsgpt4v.training.collator import LlavaCollator
    from rsgpt4v.training.recipes import prepare_model, recipe
    from rsgpt4v.training.trainer import RSTrainer

    torch.manual_seed(0)
    base, processor = _model_and_processor(args.tiny)
    rows = _rows(args.batch * (args.warmup + args.steps), args.tiny)
    collator = LlavaCollator(processor, max_length=4096)
    size = "tiny" if args.tiny else "7b"
    lora_recipe = recipe(
        "lora", group_by_length=False, lora_dropout=0.0, **({"lora_r": 8, "lora_alpha": 16} if args.tiny else {})
    )
    moe_recipe = recipe(
        "moe-lora", group_by_length=False, lora_dropout=0.0, **({"lora_r": 2, "lora_alpha": 4} if args.tiny else {})
    )
    results: dict[str, Any] = {"benchmark": "gpu_train", "shapes": size, "batch": args.batch}

    peft_default = get_peft_model(
        base,
        LoraConfig(
            r=lora_recipe.lora_r,
            lora_alpha=lora_recipe.lora_alpha,
            target_modules=lora_recipe.target_modules,
            modules_to_save=["multi_modal_projector"],
        ),
    )
    peft_default.get_base_model().activation_checkpointing_enable({"use_reentrant": False})
    results["peft_default"] = _timed_trainer(Trainer, peft_default, lora_recipe, rows, collator, args)
    base = peft_default.unload()

    lora = prepare_model(base, lora_recipe)
    results["lora"] = _timed_trainer(RSTrainer, lora, lora_recipe, rows, collator, args, recipe=lora_recipe)
    results["raw_lora"] = _raw_step(lora, collator(rows[: args.batch]), args)
    base = lora.unload()

    moe = prepare_model(base, moe_recipe)
    results["moe-lora"] = _timed_trainer(RSTrainer, moe, moe_recipe, rows, collator, args, recipe=moe_recipe)

    results["pipeline_overhead"] = round(results["lora"]["s_per_step"] / results["raw_lora"]["s_per_step"] - 1, 4)
    results["lora_over_peft_default"] = round(results["lora"]["s_per_step"] / results["peft_default"]["s_per_step"], 4)
    results["moe_over_lora"] = round(results["moe-lora"]["s_per_step"] / results["lora"]["s_per_step"], 4)
    results["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() and not args.tiny else "cpu"
    print(json.dumps(results))


if __name__ == "__main__":
    main()
