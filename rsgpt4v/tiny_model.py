r"""A tiny, randomly initialised LLaVA-1.5 with its processor, built offline from configs.

For tests, benchmarks and the demo's offline default: nothing is downloaded. The model is
``LlavaForConditionalGeneration`` with a small CLIP vision tower and a small Llama language model (hidden size 32,
2 layers by default, about 100k parameters); the processor is ``LlavaProcessor`` with the PIL (torchvision-free)
CLIP image processor, LLaVA-1.5's chat template (``USER: <image>\n... ASSISTANT:``) and a byte-level BPE tokenizer
that encodes any text: its alphabet is the 256 byte symbols, and a few hundred merges trained on the words of
``rsgpt4v.synthetic`` and the instructions of ``rsgpt4v.prompts`` keep common remote-sensing words short. Special
tokens: ``<unk>`` 0, ``<s>`` 1 (prepended by the tokenizer), ``</s>`` 2, ``<pad>`` 3 and the added special token
``<image>`` (the last id). The same arguments give the same tokenizer and the same weights.

    >>> model, processor = tiny_llava(image_size=32)     # 16 image tokens per image
    >>> save_tiny_model("tiny-llava", image_size=64)     # what `rsgpt4v tiny-model --out tiny-llava` writes
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "IMAGE_TOKEN",
    "LLAVA_CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "save_tiny_model",
    "tiny_llama",
    "tiny_llama_config",
    "tiny_llava",
    "tiny_processor",
    "tiny_tokenizer",
    "tokenizer_corpus",
]

LLAVA_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ c['text'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}{{ c['text'] }}{% endif %}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""LLaVA-1.5 conversation format (``USER: <image>\\n... ASSISTANT: ...</s> USER: ...``) with generation markers
around assistant text, so ``return_assistant_tokens_mask=True`` marks the learned tokens."""

#: Special tokens with fixed ids 0..3 (as in Llama tokenizers: ``<s>`` 1, ``</s>`` 2).
SPECIAL_TOKENS: tuple[str, ...] = ("<unk>", "<s>", "</s>", "<pad>")
IMAGE_TOKEN = "<image>"
_DEFAULT_VOCAB_SIZE = 768
_COMMON_WORDS = (
    "a an the is are there this that it its in on at of to and or with near next by from for no not yes",
    "what which where how many much number image picture area scene photo view remote sensing aerial satellite",
    "left right top bottom center middle side corner upper lower north south east west",
    "large small big long short wide narrow dense sparse many few several some all more less than",
    "rural urban residential commercial industrial farmland grassland forest bare soil water river lake sea beach",
    "building buildings road roads vehicle vehicles car cars airplane airplanes airport runway ship ships harbor",
    "tree trees pond ponds storage tank tanks bridge park parking lot stadium field fields house houses",
    "red green blue white grey gray black yellow orange brown dark light",
    "one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 10",
    "Is Are What How There The A USER: ASSISTANT:",
)


def tokenizer_corpus() -> list[str]:
    """Return the sentences the tiny tokenizer's merges are trained on (deterministic).

    They are the instructions of every registered prompt template (default phrasing and pool), the category,
    colour, land-cover and position words of ``rsgpt4v.synthetic``, and a fixed list of common words.
    """
    from rsgpt4v import prompts, synthetic

    lines = list(_COMMON_WORDS)
    for template in prompts.TEMPLATES.values():
        for text in (template.template, *template.pool):
            lines.append(text.format(question="", expression="", box=""))
    lines += [" ".join(synthetic.CATEGORIES), " ".join(synthetic.PLURALS.values())]
    lines += [" ".join(colours) for colours in synthetic.COLOURS.values()]
    lines += [" ".join(synthetic.BACKGROUNDS), " ".join(" ".join(row) for row in synthetic.POSITIONS)]
    return lines


def tiny_tokenizer(vocab_size: int = _DEFAULT_VOCAB_SIZE) -> Any:
    """Return a byte-level BPE tokenizer (``transformers`` tokenizers backend) that encodes any text.

    Args:
        vocab_size: at most this many tokens before ``<image>`` (4 specials, 256 byte symbols, then merges;
            fewer when the corpus has no more pairs to merge).
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = tokenizer_corpus()
    backend.train_from_iterator(corpus * 4, trainer)
    bos = SPECIAL_TOKENS[1]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, SPECIAL_TOKENS.index(bos))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
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
    """Return a small ``LlamaConfig`` (pad 3, bos 1, eos 2; ``num_key_value_heads`` = heads unless overridden)."""
    from transformers import LlamaConfig

    kwargs: dict[str, Any] = dict(
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
        seed: seeds torch's global RNG before the weights are drawn (same seed, same weights; what is drawn
            afterwards, e.g. adapter weights, is reproducible too).
        dtype: optional torch dtype to cast the model to.
        **config_overrides: fields passed to :func:`tiny_llama_config`.
    """
    import torch
    from transformers import LlamaForCausalLM

    config = tiny_llama_config(**config_overrides)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def _patch_size(image_size: int, patch_size: int | None) -> int:
    if image_size < 4:
        raise ValueError(f"`image_size`={image_size} is too small; use at least 4 (e.g. 32 or 64).")
    patch = image_size // 4 if patch_size is None else patch_size
    if patch < 1 or image_size % patch:
        raise ValueError(f"`image_size`={image_size} must be a multiple of `patch_size`={patch_size}.")
    return patch


def tiny_processor(tokenizer: Any = None, *, image_size: int = 32, patch_size: int | None = None) -> Any:
    """Return a ``LlavaProcessor``: PIL CLIP image processor at ``image_size``, LLaVA-1.5 chat template.

    Args:
        tokenizer: the tokenizer (default :func:`tiny_tokenizer`).
        image_size: side the images are resized (and centre-cropped) to.
        patch_size: ViT patch size (default ``image_size // 4``: 16 image tokens per image).
    """
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    patch = _patch_size(image_size, patch_size)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer if tokenizer is not None else tiny_tokenizer(),
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )


def tiny_llava(
    *,
    image_size: int = 32,
    patch_size: int | None = None,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    initializer_range: float = 0.02,
    seed: int = 0,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """Build a randomly initialised ``LlavaForConditionalGeneration`` and its ``LlavaProcessor``, offline.

    Each ``<image>`` expands to ``(image_size // patch_size) ** 2`` image tokens (the CLS token is dropped by the
    "default" feature strategy).

    Args:
        image_size: square input resolution of the vision tower.
        patch_size: ViT patch size; ``image_size`` must be a multiple (default ``image_size // 4``).
        hidden_size: width of both towers (a multiple of 4, the head count).
        num_hidden_layers: depth of both towers.
        initializer_range: standard deviation of the language model's, projector's and ``lm_head``'s random
            weights (``LlamaConfig.initializer_range``; the vision tower keeps CLIP's own initialisation). The
            default is Llama's 0.02; larger values (e.g. 0.4) give random attention with sharper patterns, which
            lets a tiny model trained from scratch start relating question words to image tokens sooner
            (``benchmarks/bench_learning.py``).
        seed: seeds torch's global RNG before the weights are drawn (so adapters created afterwards are
            reproducible too).
        dtype: optional torch dtype to cast the model to.

    Returns:
        ``(model, processor)``; the model is in eval mode.

    Raises:
        ValueError: ``image_size`` is not a multiple of ``patch_size``, ``hidden_size`` not a multiple of 4, or
            ``initializer_range`` not positive.
    """
    import torch
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    patch = _patch_size(image_size, patch_size)
    if hidden_size < 4 or hidden_size % 4:
        raise ValueError(f"`hidden_size`={hidden_size} must be a positive multiple of 4 (4 attention heads).")
    if not initializer_range > 0:
        raise ValueError(f"`initializer_range`={initializer_range} must be a positive standard deviation, e.g. 0.02.")
    processor = tiny_processor(image_size=image_size, patch_size=patch)
    tokenizer = processor.tokenizer
    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch,
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
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=initializer_range,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=(image_size // patch) ** 2,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), processor


def save_tiny_model(out: str | Path, **kwargs: Any) -> Path:
    """Build :func:`tiny_llava` and write model and processor with ``save_pretrained`` to ``out``.

    The folder loads with ``AutoModelForImageTextToText.from_pretrained(out)``,
    ``AutoProcessor.from_pretrained(out)`` and ``rsgpt4v.inference.Predictor(out)``.

    Args:
        out: the folder to write (created if needed).
        **kwargs: arguments of :func:`tiny_llava` (``image_size``, ``patch_size``, ``hidden_size``,
            ``num_hidden_layers``, ``initializer_range``, ``seed``, ``dtype``).

    Returns:
        The folder.
    """
    model, processor = tiny_llava(**kwargs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
