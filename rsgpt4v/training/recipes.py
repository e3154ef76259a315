"""Training recipes: ``full``, ``lora`` and ``moe-lora`` with LLaVA-1.5's published settings as defaults.

A :class:`Recipe` holds every setting of a run (what is trained, the adapter, the optimisation, the data pipeline).
:func:`recipe` returns a named recipe with any field overridden; every field has help text (``rsgpt4v train
--help`` lists them). Defaults (LLaVA-1.5, ``scripts/v1_5/finetune.sh`` and ``finetune_lora.sh``): one epoch,
global batch 128 (16 per GPU on 8 GPUs), cosine schedule with 3% warm-up, no weight decay, 2048 tokens, images padded
to a square of the processor's mean colour, bf16 with tf32, gradient checkpointing, length-grouped batches, vision
tower frozen and projector trained.

============  ==========  ===================================  ============
recipe        lr          adapter                              projector lr
============  ==========  ===================================  ============
``full``      2e-5        none (language model + projector)    2e-5
``lora``      2e-4        LoRA r 128, alpha 256                2e-5
``moe-lora``  2e-4        4 experts x r 32, top-2, alpha 64    2e-5
============  ==========  ===================================  ============
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["RECIPES", "RECIPE_FILE", "Recipe", "prepare_model", "read_recipe", "recipe"]

RECIPES: tuple[str, ...] = ("full", "lora", "moe-lora")
RECIPE_FILE = "rsgpt4v_recipe.json"
"""Written next to every saved adapter or model: the recipe the run used."""

_LANGUAGE_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class Recipe:
    """Every setting of a training run; see :func:`recipe` for the named defaults."""

    name: str = _help("Recipe: 'full', 'lora' or 'moe-lora'.", default="moe-lora")
    # what is trained
    train_projector: bool = _help("Train the multimodal projector (LLaVA-1.5: yes).", default=True)
    train_vision_tower: bool = _help("Train the vision tower too (LLaVA-1.5: no, it stays frozen).", default=False)
    modules_to_save: list[str] | None = _help(
        "More modules trained fully (and saved with an adapter), e.g. ['lm_head'] for a randomly initialised model.",
        default=None,
    )
    train_language_model: bool = _help(
        "Full recipe: train the language model's weights (adapter recipes train adapters instead).", default=True
    )
    # adapter
    lora_r: int = _help("LoRA rank (moe-lora: rank of each expert).", default=128)
    lora_alpha: int = _help("LoRA alpha; the update is scaled by alpha / r.", default=256)
    lora_dropout: float = _help("Dropout on the adapters' input.", default=0.05)
    target_modules: str = _help(
        "Regex of the adapted Linear layers (default: every attention and MLP linear of the language model).",
        default=_LANGUAGE_LINEARS,
    )
    num_experts: int = _help("moe-lora: experts per adapted layer.", default=4)
    top_k: int | None = _help("moe-lora: experts per token (or task); None routes densely.", default=2)
    routing: str = _help("moe-lora: 'token' (router per token) or 'task' (one mixture per task id).", default="token")
    router_aux_loss_coef: float = _help("moe-lora: weight of the load-balancing loss.", default=0.01)
    # optimisation
    learning_rate: float = _help("Peak learning rate.", default=2e-4)
    projector_lr: float | None = _help("Learning rate of the projector (None: the learning rate).", default=2e-5)
    num_train_epochs: float = _help("Epochs over the training rows.", default=1.0)
    max_steps: int = _help("Stop after this many optimizer steps (-1: use the epochs).", default=-1)
    per_device_train_batch_size: int = _help("Rows per device per micro-batch.", default=16)
    gradient_accumulation_steps: int = _help("Micro-batches per optimizer step.", default=1)
    weight_decay: float = _help("AdamW weight decay.", default=0.0)
    warmup_ratio: float = _help("Share of the steps spent warming up linearly.", default=0.03)
    lr_scheduler_type: str = _help("Learning-rate schedule (transformers' names).", default="cosine")
    max_grad_norm: float = _help("Gradient clipping norm.", default=1.0)
    seed: int = _help("Seed of the initialisation and the data order.", default=42)
    # precision and memory
    bf16: bool = _help("Train in bfloat16 mixed precision (on CPU only when supported).", default=True)
    tf32: bool = _help("Allow TF32 matmuls on Ampere or newer GPUs.", default=True)
    gradient_checkpointing: bool = _help("Non-reentrant gradient checkpointing of the language model.", default=True)
    # data
    max_length: int = _help("Most tokens per sample; longer conversations are split between turns.", default=2048)
    image_aspect: str = _help("'pad' (LLaVA-1.5), 'resize' or 'processor'.", default="pad")
    group_by_length: bool = _help("LLaVA's length-grouped batches (similar lengths share a batch).", default=True)
    skip_masked: bool = _help("Skip (and count) samples with no learned token instead of stopping.", default=False)
    dataloader_num_workers: int = _help("Data loading worker processes per device.", default=4)
    # logging and saving
    logging_steps: int = _help("Log every this many steps (loss, aux loss, expert load).", default=1)
    save_steps: int = _help("Save a checkpoint every this many steps (0: only at the end).", default=500)
    save_total_limit: int | None = _help("Keep at most this many checkpoints.", default=1)

    def __post_init__(self) -> None:
        if self.name not in RECIPES:
            raise ValueError(f"Unknown recipe {self.name!r}; expected one of {', '.join(RECIPES)}.")
        if self.routing not in ("token", "task"):
            raise ValueError(f"`routing` must be 'token' or 'task', got {self.routing!r}.")
        if self.image_aspect not in ("pad", "resize", "processor"):
            raise ValueError(f"`image_aspect` must be 'pad', 'resize' or 'processor', got {self.image_aspect!r}.")
        for name in ("lora_r", "lora_alpha", "num_experts", "per_device_train_batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)!r}.")
        if self.learning_rate <= 0 or (self.projector_lr is not None and self.projector_lr <= 0):
            raise ValueError("`learning_rate` and `projector_lr` must be > 0.")

    @property
    def adapter(self) -> bool:
        """Whether the recipe trains a PEFT adapter (``lora``, ``moe-lora``) rather than the weights."""
        return self.name != "full"

    @property
    def task_routed(self) -> bool:
        """Whether batches must carry ``task_ids`` (``moe-lora`` with ``routing='task'``)."""
        return self.name == "moe-lora" and self.routing == "task"

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-ready dict."""
        return dataclasses.asdict(self)

    def save(self, folder: str | Path) -> Path:
        """Write the recipe to ``folder/rsgpt4v_recipe.json``."""
        path = Path(folder) / RECIPE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    def peft_config(self) -> Any:
        """The PEFT config of the adapter recipes (``LoraConfig`` or ``MoELoraConfig``); `None` for ``full``."""
        modules = (
            (["multi_modal_projector"] if self.train_projector else [])
            + (["vision_tower"] if self.train_vision_tower else [])
            + list(self.modules_to_save or [])
        )
        if self.name == "lora":
            from peft import LoraConfig

            return LoraConfig(
                r=self.lora_r,
                lora_alpha=self.lora_alpha,
                lora_dropout=self.lora_dropout,
                target_modules=self.target_modules,
                modules_to_save=modules,
            )
        if self.name == "moe-lora":
            from rsgpt4v.moe_lora import MoELoraConfig

            return MoELoraConfig(
                r=self.lora_r,
                lora_alpha=self.lora_alpha,
                lora_dropout=self.lora_dropout,
                target_modules=self.target_modules,
                num_experts=self.num_experts,
                top_k=self.top_k,
                routing=self.routing,
                router_aux_loss_coef=self.router_aux_loss_coef,
                modules_to_save=modules,
            )
        return None

    def training_arguments(self, output_dir: str | Path, **overrides: Any) -> Any:
        """``transformers.TrainingArguments`` for this recipe (``overrides`` win; e.g. ``use_cpu=True``).

        ``bf16`` and ``tf32`` apply on Ampere or newer GPUs only (elsewhere the run is float32; pass ``bf16=True``
        in ``overrides`` to force it), so a recipe runs anywhere; ``remove_unused_columns`` is off (the collator
        reads the raw rows).
        """
        import torch
        from transformers import TrainingArguments

        cuda = torch.cuda.is_available() and not overrides.get("use_cpu", False)
        ampere = cuda and torch.cuda.get_device_capability()[0] >= 8
        save_steps = self.save_steps
        kwargs: dict[str, Any] = dict(
            output_dir=str(output_dir),
            learning_rate=self.learning_rate,
            num_train_epochs=self.num_train_epochs,
            max_steps=self.max_steps,
            per_device_train_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_ratio,
            lr_scheduler_type=self.lr_scheduler_type,
            max_grad_norm=self.max_grad_norm,
            seed=self.seed,
            data_seed=self.seed,
            bf16=self.bf16 and ampere,
            tf32=self.tf32 and ampere,
            activation_checkpointing=self.gradient_checkpointing,
            activation_checkpointing_kwargs={"use_reentrant": False} if self.gradient_checkpointing else None,
            logging_steps=self.logging_steps,
            save_strategy="steps" if save_steps else "no",
            save_steps=save_steps or 500,
            save_total_limit=self.save_total_limit,
            dataloader_num_workers=self.dataloader_num_workers,
            remove_unused_columns=False,
            report_to=[],
            ddp_find_unused_parameters=False,
        )
        kwargs.update(overrides)
        return TrainingArguments(**kwargs)


def recipe(name: str = "moe-lora", **overrides: Any) -> Recipe:
    """Return a named recipe with LLaVA-1.5's settings and any field overridden.

    Args:
        name: ``full``, ``lora`` or ``moe-lora``.
        **overrides: :class:`Recipe` fields (e.g. ``learning_rate=1e-3``, ``num_experts=8``).

    Raises:
        ValueError: an unknown recipe or field name (the message lists the valid ones), or a bad value.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; expected one of {', '.join(RECIPES)}.")
    defaults: dict[str, Any] = {"name": name}
    if name == "full":
        defaults.update(learning_rate=2e-5, projector_lr=None)
    elif name == "moe-lora":
        defaults.update(lora_r=32, lora_alpha=64, num_experts=4, top_k=2)
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"Unknown recipe setting(s) {', '.join(unknown)}; valid settings: {', '.join(sorted(known))}."
        )
    return Recipe(**{**defaults, **overrides})


def read_recipe(folder: str | Path) -> Recipe:
    """Read the recipe saved next to an adapter or model (``rsgpt4v_recipe.json``).

    Raises:
        FileNotFoundError: the folder has no recipe file.
    """
    path = Path(folder) / RECIPE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; the folder was not written by `rsgpt4v train`.")
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Recipe)}
    return Recipe(**{k: v for k, v in data.items() if k in known})


def prepare_model(model: Any, recipe: Recipe) -> Any:
    """Freeze, adapt and configure a ``LlavaForConditionalGeneration`` for a recipe.

    ``full`` trains the language model (and the projector / vision tower as the recipe says) in place; ``lora``
    and ``moe-lora`` wrap the model with ``get_peft_model`` (adapters kept in the model's dtype, no float32 upcast),
    with the projector (and vision tower) trained fully and saved with the adapter. Gradient checkpointing is
    enabled non-reentrant, with input gradients on so that checkpointed frozen layers still pass gradients.

    Returns:
        The model to train (a ``PeftModel`` for the adapter recipes).
    """
    if not hasattr(model, "model") or not hasattr(model.model, "multi_modal_projector"):
        raise ValueError(
            f"{type(model).__name__} is not a LLaVA model (no model.multi_modal_projector); rsgpt4v trains "
            "LlavaForConditionalGeneration checkpoints (llava-hf layout)."
        )
    inner = model.model
    if recipe.adapter:
        from peft import get_peft_model

        import rsgpt4v.moe_lora  # noqa: F401  (registers MOELORA)

        model.requires_grad_(False)
        model = get_peft_model(model, recipe.peft_config(), autocast_adapter_dtype=False)
    else:
        model.requires_grad_(False)
        inner.language_model.requires_grad_(recipe.train_language_model)
        model.lm_head.requires_grad_(recipe.train_language_model)
        inner.multi_modal_projector.requires_grad_(recipe.train_projector)
        inner.vision_tower.requires_grad_(recipe.train_vision_tower)
        for name in recipe.modules_to_save or []:
            model.get_submodule(name).requires_grad_(True)
    if recipe.gradient_checkpointing:
        base = model.get_base_model() if recipe.adapter else model
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    return model
