"""Test helpers around the package's tiny models (``rsgpt4v.tiny_model``): random images and labelled batches.

>>> model = tiny_llama()                        # LlamaForCausalLM, hidden 32, 2 layers
>>> model, processor = tiny_llava(image_size=32)
>>> batch = llava_batch(processor, ["USER: <image>\\nWhat is this? ASSISTANT:"])
"""

from __future__ import annotations

from typing import Any

from rsgpt4v.tiny_model import LLAVA_CHAT_TEMPLATE, tiny_llama, tiny_llama_config, tiny_llava, tiny_tokenizer

__all__ = [
    "LLAVA_CHAT_TEMPLATE",
    "llava_batch",
    "random_images",
    "tiny_llama",
    "tiny_llama_config",
    "tiny_llava",
    "tiny_tokenizer",
]


def random_images(n: int, size: int = 32, seed: int = 0) -> list[Any]:
    """Return ``n`` random RGB ``PIL.Image`` of ``size`` x ``size`` pixels (deterministic for a seed)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def llava_batch(processor: Any, prompts: list[str], *, size: int = 32, seed: int = 0) -> dict[str, Any]:
    """Tokenise ``prompts`` (each containing one ``<image>``) with random images, padded, as a ``BatchFeature``.

    ``labels`` are ``input_ids`` with padding and image tokens set to -100.
    """
    batch = processor(
        images=random_images(len(prompts), size=size, seed=seed), text=prompts, padding=True, return_tensors="pt"
    )
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    labels[batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>")] = -100
    batch["labels"] = labels
    return batch
