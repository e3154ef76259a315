"""Tiny, randomly initialised Llama and LLaVA models built from configs, fully offline.

Shared by the MoE-LoRA, training and inference tests. Nothing is downloaded: the tokenizer is an in-memory
byte-fallback BPE with no merges, the image processor is the PIL (torchvision-free) CLIP processor.

    >>> model = tiny_llama()                        # LlamaForCausalLM, hidden 32, 2 layers
    >>> model, processor = tiny_llava(image_size=32)
    >>> batch = processor(images=[img], text=["USER: <image>\\nWhat is this? ASSISTANT:"], return_tensors="pt")
"""

from __future__ import annotations

from typing import Any

LLAVA_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ c['text'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}{{ c['text'] }}{% endif %}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""LLaVA-1.5 conversation format (``USER: <image>\\n... ASSISTANT: ...</s>``) with generation markers."""

_CHARS = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;?!'\"-<>/[]()#"


def tiny_tokenizer() -> Any:
    """Return an in-memory Llama tokenizer: 4 specials, 256 byte-fallback tokens, one token per common character.

    ``<image>`` is registered as a special added token (the LLaVA processor requires it to be a single token).
    """
    from tokenizers import AddedToken
    from transformers import LlamaTokenizer

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<pad>"])}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for ch in _CHARS:
        vocab.setdefault(ch, len(vocab))
    tokenizer = LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>")
    tokenizer.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
    return tokenizer


def tiny_llama_config(
    *,
    vocab_size: int = 128,
    hidden_size: int = 32,
    intermediate_size: int = 48,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    max_position_embeddings: int = 256,
    **overrides: Any,
) -> Any:
    """Return a small ``LlamaConfig`` (``num_key_value_heads`` equals the head count unless overridden)."""
    from transformers import LlamaConfig

    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_attention_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=3,
        bos_token_id=1,
        eos_token_id=2,
    )
    kwargs.update(overrides)
    return LlamaConfig(**kwargs)


def tiny_llama(*, seed: int = 0, dtype: Any = None, **config_overrides: Any) -> Any:
    """Build a randomly initialised ``LlamaForCausalLM`` from :func:`tiny_llama_config`, in eval mode.

    Args:
        seed: torch seed used for the initial weights (same seed, same weights).
        dtype: optional torch dtype to cast the model to.
        **config_overrides: fields passed to :func:`tiny_llama_config`.
    """
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(**config_overrides))
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def tiny_llava(
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    seed: int = 0,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """Build a randomly initialised ``LlavaForConditionalGeneration`` and a matching ``LlavaProcessor``, offline.

    The processor expands each ``<image>`` to ``(image_size // patch_size) ** 2`` image tokens (CLS dropped by the
    "default" feature strategy), resizes to ``image_size`` with the PIL CLIP processor and carries
    :data:`LLAVA_CHAT_TEMPLATE`.

    Args:
        image_size: square input resolution of the vision tower.
        patch_size: ViT patch size (``image_size`` must be a multiple).
        hidden_size: width of both the vision tower and the language model.
        num_hidden_layers: depth of both towers.
        seed: torch seed used for the initial weights.
        dtype: optional torch dtype to cast the model to.

    Returns:
        ``(model, processor)``; the model is in eval mode.
    """
    import torch
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    if image_size % patch_size:
        raise ValueError(f"`image_size`={image_size} must be a multiple of `patch_size`={patch_size}")
    tokenizer = tiny_tokenizer()
    num_image_tokens = (image_size // patch_size) ** 2
    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size + 16,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=4,
        projection_dim=hidden_size,
    )
    text = tiny_llama_config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size + 16,
        num_hidden_layers=num_hidden_layers,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=num_image_tokens,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    if dtype is not None:
        model = model.to(dtype)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    return model.eval(), processor


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
