"""Collator throughput per CPU core: ``LlavaCollator`` vs ``LlavaProcessor`` called per sample.

Rows as a built ``vqa`` config holds them: 256 px synthetic scenes as PNG bytes and 4-12-turn VQA conversations.
Both paths, in one process with one torch thread (so samples/s is per core), do the whole data pipeline of a
training step: decode the PNG, pad to square (``rsgpt4v.images.prepare_image``), LLaVA-1.5's 336 px CLIP
preparation with the PIL backend (24 x 24 patches of 14 px: 576 image tokens), chat template, tokenisation, labels
and padding into a batch.

- ``collator``: ``rsgpt4v.training.LlavaCollator`` (labels per turn at the token level, image tokens expanded by id);
- ``plain``: what a plain Hugging Face training script does per sample: ``processor.apply_chat_template(...,
  tokenize=False)``, ``processor(text=..., images=...)`` (which expands ``<image>`` in the text and tokenises it),
  labels = ``input_ids`` with image tokens masked (no assistant-only masking: the plain path does less work), then
  padding.

The tokenizer is rsgpt4v's tiny byte-level BPE (no download); the image processor and token counts are LLaVA-1.5's.
Prints one JSON line: ``samples_per_s_per_core`` (collator), ``plain_samples_per_s_per_core``, ``over_plain``
(ratio) and ``target_met`` (>= 100 samples/s per core and >= the plain path), all from wall-clock time; and
``samples_per_cpu_s`` / ``plain_samples_per_cpu_s``: samples per CPU second of the process, which other processes
sharing the machine disturb less. ``--profile tottime`` prints where each path's time goes (stderr).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time


def _rows(n: int, seed: int) -> list[dict]:
    from collections import defaultdict

    from rsgpt4v.prompts import VQA_SUFFIX
    from rsgpt4v.synthetic import synthetic_records

    turns: dict[str, list] = defaultdict(list)
    images: dict[str, bytes] = {}
    for record in synthetic_records(n, 256, seed, 0.0, tasks=["vqa"]):
        turns[record.image_path].append((record.question + VQA_SUFFIX, record.answer))
        images[record.image_path] = record.image_bytes
    rows = []
    for path, pairs in turns.items():
        conversations = []
        for k, (question, answer) in enumerate(pairs[:12]):
            conversations.append({"from": "human", "value": ("<image>\n" if k == 0 else "") + question})
            conversations.append({"from": "gpt", "value": answer})
        rows.append(
            {"id": path, "image": {"bytes": images[path], "path": None}, "task": 1, "conversations": conversations}
        )
    return rows


def _processor():
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from rsgpt4v.tiny_model import LLAVA_CHAT_TEMPLATE, tiny_tokenizer

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tiny_tokenizer(),
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )


def _plain_batch(processor, rows, image_kwargs) -> dict:
    """One sample at a time through the processor, as a plain training script does, then padding."""
    import torch
    from PIL import Image

    from rsgpt4v.images import prepare_image

    mean = processor.image_processor.image_mean
    ids, labels, pixels = [], [], []
    for row in rows:
        chat = []
        for k, turn in enumerate(row["conversations"]):
            text = turn["value"].removeprefix("<image>\n")
            content = ([{"type": "image"}] if k == 0 else []) + [{"type": "text", "text": text}]
            chat.append({"role": "user" if turn["from"] == "human" else "assistant", "content": content})
        prompt = processor.apply_chat_template(chat, tokenize=False)
        image = prepare_image(Image.open(io.BytesIO(row["image"]["bytes"])), "pad", mean)
        encoded = processor(text=prompt, images=image, return_tensors="pt", **image_kwargs)
        sample = encoded["input_ids"][0]
        target = sample.clone()
        target[sample == processor.image_token_id] = -100
        ids.append(sample)
        labels.append(target)
        pixels.append(encoded["pixel_values"][0])
    pad = processor.tokenizer.pad_token_id
    return {
        "input_ids": torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad),
        "labels": torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=-100),
        "pixel_values": torch.stack(pixels),
    }


def _rate(fn, rows, batch_size: int, repeats: int, profile: str | None = None) -> tuple[float, float]:
    """(samples per wall-clock second, samples per CPU second of this process) over ``repeats`` passes."""
    fn(rows[:batch_size])  # warm-up (template compilation, caches)
    profiler = cProfile.Profile() if profile else None
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    done = 0
    for _ in range(repeats):
        for i in range(0, len(rows), batch_size):
            fn(rows[i : i + batch_size])
            done += len(rows[i : i + batch_size])
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(profile).print_stats(30)
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64, help="synthetic 256 px images (one row each)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile",
        choices=["tottime", "cumtime"],
        help="profile both paths with cProfile and print the top functions by this key to stderr (slows both)",
    )
    args = parser.parse_args()

    # One thread everywhere: the fast tokenizer's thread pool would otherwise run beside the measured thread.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)
    from rsgpt4v.inference import processor_image_kwargs
    from rsgpt4v.training.collator import LlavaCollator

    rows = _rows(args.rows, seed=0)
    processor = _processor()
    collator = LlavaCollator(processor, max_length=None)
    image_kwargs = processor_image_kwargs(processor.image_processor, "pad")
    ours, ours_cpu = _rate(collator, rows, args.batch_size, args.repeats, args.profile)
    plain, plain_cpu = _rate(
        lambda chunk: _plain_batch(processor, chunk, image_kwargs), rows, args.batch_size, args.repeats, args.profile
    )
    tokens = collator(rows[:1])["input_ids"].shape[1]
    print(
        json.dumps(
            {
                "benchmark": "bench_collator",
                "samples_per_s_per_core": round(ours, 1),
                "plain_samples_per_s_per_core": round(plain, 1),
                "over_plain": round(ours / plain, 3),
                "samples_per_cpu_s": round(ours_cpu, 1),
                "plain_samples_per_cpu_s": round(plain_cpu, 1),
                "target_met": ours >= 100 and ours >= plain,
                "rows": len(rows),
                "batch_size": args.batch_size,
                "image": "256 px PNG -> pad -> 336 px CLIP (PIL backend), 576 image tokens",
                "tokens_first_sample": int(tokens),
                "torch_threads": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
