r"""One ``Predictor``: a LLaVA-architecture model, its processor and an optional PEFT adapter; batched generation.

Used by ``rsgpt4v predict``, the training callback and the demo. Prompts go through the model's chat template;
images through :func:`rsgpt4v.images.prepare_image` (the preparation training uses) and the processor, with the
keyword arguments of :func:`processor_image_kwargs`. Batches are left-padded, so an item gets the same answer
whatever the batch it is in; decoding is greedy unless asked otherwise.

    >>> predictor = Predictor("tiny-llava")                        # a folder, a Hub id or a loaded model
    >>> predictor.ask(image, "Is there a road?\nAnswer the question using a single word or phrase.")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v.data import is_hub_id
from rsgpt4v.images import ImageAspect, prepare_image
from rsgpt4v.pixels import PREPARED, PixelValues
from rsgpt4v.schema import TASKS

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "AdapterError",
    "Conversation",
    "ModelNotFoundError",
    "Predictor",
    "check_model_folder",
    "messages",
    "processor_image_kwargs",
]

#: A chat in ``transformers`` form: ``[{"role": "user" | "assistant", "content": [{"type": ..., ...}]}]``.
Conversation = list[dict[str, Any]]
_ASPECTS = ("pad", "resize", "processor")


class ModelNotFoundError(FileNotFoundError):
    """``--model`` names no model folder (or a folder that is not a full model)."""


class AdapterError(ValueError):
    """``--adapter`` names no PEFT adapter folder, or the adapter cannot be used as asked."""


def messages(prompt: str, history: Sequence[tuple[str, str]] = ()) -> Conversation:
    """Build the chat of one question: the image in the first user turn, earlier turns, then ``prompt``.

    Args:
        prompt: the instruction or question (without the ``<image>`` token).
        history: earlier ``(question, answer)`` turns of the same conversation, oldest first.

    Raises:
        ValueError: an earlier turn has no answer (``None``), so it cannot be replayed as history.
    """
    chat: Conversation = []
    for k, (question, answer) in enumerate([*history, (prompt, None)]):
        content: list[dict[str, Any]] = [{"type": "image"}] if k == 0 else []
        content.append({"type": "text", "text": question})
        chat.append({"role": "user", "content": content})
        if k < len(history):
            if answer is None:
                raise ValueError(f"earlier turn {k} ({question!r}) has no answer, so it cannot be given as history.")
            chat.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return chat


def processor_image_kwargs(image_processor: Any, aspect: ImageAspect) -> dict[str, Any]:
    """Keyword arguments for the image processor that complete :func:`rsgpt4v.images.prepare_image`.

    ``pad`` (image already square) and ``resize`` resize straight to the processor's output size (its crop size,
    or its size), without a centre crop, so nothing of the image is cut; ``processor`` keeps the processor's own
    resize and centre crop.

    Raises:
        ValueError: for an unknown ``aspect``.
    """
    if aspect not in _ASPECTS:
        raise ValueError(f"Unknown image aspect {aspect!r}; use 'pad', 'resize' or 'processor'.")
    if aspect == "processor":
        return {}
    crop, size = getattr(image_processor, "crop_size", None), getattr(image_processor, "size", None)
    height = width = None
    if getattr(image_processor, "do_center_crop", False) and crop is not None and crop.get("height"):
        height, width = crop["height"], crop["width"]
    elif size is not None and size.get("height"):
        height, width = size["height"], size["width"]
    elif size is not None and size.get("shortest_edge"):
        height = width = size["shortest_edge"]
    if height is None:
        raise ValueError(
            f"Cannot tell the output size of {type(image_processor).__name__} (size={size}, crop_size={crop}); "
            "use image_aspect='processor'."
        )
    return {"size": {"height": int(height), "width": int(width)}, "do_center_crop": False}


def check_model_folder(model: str | Path) -> str:
    """Return what to hand to ``from_pretrained`` for ``--model``: a full model folder or a Hub id.

    Raises:
        ModelNotFoundError: the folder does not exist, holds an adapter instead of a model, or lacks
            ``config.json``; the message says which option to use instead.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            if (path / "adapter_config.json").is_file():
                base = _adapter_base(path)
                raise ModelNotFoundError(
                    f"{path} is a PEFT adapter (adapter_config.json, no config.json), not a full model: pass it as "
                    f"--adapter {path} with its base model as --model{f' {base}' if base else ''}."
                )
            raise ModelNotFoundError(f"{path} has no config.json: it is not a saved model folder.")
        return str(path)
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; --model takes a model folder or a Hub id (owner/name).")
    if is_hub_id(str(model)):
        return str(model)
    raise ModelNotFoundError(
        f"model folder {path} does not exist. Give a saved model folder (e.g. one written by `rsgpt4v tiny-model "
        f"--out {path}` or by the `full` training recipe) or a Hub id such as llava-hf/llava-1.5-7b-hf."
    )


def _adapter_base(path: Path) -> str | None:
    try:
        return json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def _check_adapter_folder(adapter: str | Path) -> str:
    path = Path(adapter).expanduser()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return str(path)
        if (path / "config.json").is_file():
            raise AdapterError(
                f"{path} is a full model folder (config.json, no adapter_config.json), not a PEFT adapter: "
                f"load it with --model {path} and no --adapter."
            )
        raise AdapterError(f"{path} has no adapter_config.json: it is not a saved PEFT adapter (LoRA or MoE-LoRA).")
    if not path.exists() and is_hub_id(str(adapter)):
        return str(adapter)
    raise AdapterError(f"adapter folder {path} does not exist; give the folder written by `rsgpt4v train`.")


def _has_processor(folder: str) -> bool:
    path = Path(folder)
    return path.is_dir() and (path / "processor_config.json").is_file()


def _task_routed(model: Any) -> bool:
    """Whether the active adapter of a PEFT model is a MoE-LoRA adapter that routes by task."""
    configs = getattr(model, "peft_config", None)
    if not isinstance(configs, dict):
        return False
    config = configs.get(getattr(model, "active_adapter", None))
    return getattr(config, "routing", None) == "task"


class Predictor:
    """A model (plus processor and optional PEFT adapter) that answers (image, conversation) pairs in batches.

    Args:
        model: a local model folder, a Hub id, or a loaded ``PreTrainedModel`` (then pass ``processor``, or the
            model's ``name_or_path`` must hold one).
        adapter: a PEFT adapter folder (LoRA or MoE-LoRA, with ``adapter_config.json``) or Hub id; its processor is
            used when the folder has one.
        processor: the processor to use instead of loading one.
        device: where to run (default: CUDA when available, else CPU; a loaded model stays where it is).
        dtype: torch dtype (or its name, e.g. ``"bfloat16"``) to load the model in (default: the checkpoint's own).
        image_aspect: ``pad`` (LLaVA-1.5: pad to a square of the processor's mean colour), ``resize`` or
            ``processor``; see :mod:`rsgpt4v.images`.
        max_new_tokens: generation length limit.
        batch_size: items per forward pass.
        num_beams: beam search width (1: greedy).
        do_sample: sample instead of greedy decoding (then results depend on the torch seed).

    Raises:
        ModelNotFoundError: ``model`` is no model folder or Hub id (or is an adapter folder).
        AdapterError: ``adapter`` is no adapter folder (e.g. a full model folder).
        ValueError: an unknown ``image_aspect`` or a non-positive ``batch_size`` / ``max_new_tokens``.
    """

    def __init__(
        self,
        model: str | Path | Any,
        adapter: str | Path | None = None,
        *,
        processor: Any = None,
        device: Any = None,
        dtype: Any = None,
        image_aspect: ImageAspect = "pad",
        max_new_tokens: int = 256,
        batch_size: int = 8,
        num_beams: int = 1,
        do_sample: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if image_aspect not in _ASPECTS:
            raise ValueError(f"Unknown image aspect {image_aspect!r}; use 'pad', 'resize' or 'processor'.")
        for name, value in (("batch_size", batch_size), ("max_new_tokens", max_new_tokens), ("num_beams", num_beams)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if isinstance(dtype, str) and dtype != "auto":
            dtype = getattr(torch, dtype)
        adapter_path = _check_adapter_folder(adapter) if adapter is not None else None
        if isinstance(model, (str, Path)):
            model_path = check_model_folder(model)
            try:
                loaded = AutoModelForImageTextToText.from_pretrained(model_path, dtype=dtype or "auto")
            except OSError as exc:
                raise ModelNotFoundError(f"cannot load model {model_path}: {exc}") from exc
            self.model_id = model_path
            loaded.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        else:
            loaded = model
            self.model_id = str(getattr(model, "name_or_path", "") or type(model).__name__)
            if dtype not in (None, "auto"):
                loaded = loaded.to(dtype)
            if device is not None:
                loaded = loaded.to(device)
        self.adapter_id = adapter_path
        if adapter_path is not None:
            loaded = self._load_adapter(loaded, adapter_path)
        self.task_routed = _task_routed(loaded)
        if processor is None:
            source = adapter_path if adapter_path and _has_processor(adapter_path) else self.model_id
            try:
                processor = AutoProcessor.from_pretrained(source)
            except (OSError, ValueError) as exc:
                raise ModelNotFoundError(
                    f"no processor found for {source}: {exc}. Pass `processor=` or save one next to the model."
                ) from exc
        self.model = loaded.eval()
        self.processor = processor
        self.image_aspect: ImageAspect = image_aspect
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.num_beams = num_beams
        self.do_sample = do_sample
        self._pixels = PixelValues(
            processor.image_processor, **processor_image_kwargs(processor.image_processor, image_aspect)
        )

    def _load_adapter(self, model: Any, adapter: str) -> Any:
        from peft import PeftModel

        import rsgpt4v.moe_lora  # noqa: F401  (registers the MOELORA PEFT method before loading)

        try:
            peft_model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise AdapterError(f"cannot load adapter {adapter} onto {self.model_id}: {exc}") from exc
        return peft_model

    @property
    def device(self) -> Any:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> Any:
        """The dtype of the model's parameters."""
        return next(self.model.parameters()).dtype

    @property
    def settings(self) -> dict[str, Any]:
        """Everything that decides the generated text, as recorded next to predictions."""
        return {
            "decoding": "sample" if self.do_sample else ("greedy" if self.num_beams == 1 else "beam"),
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
            "image_aspect": self.image_aspect,
            "image_processor_kwargs": self._pixels.kwargs,
            "dtype": str(self.dtype).removeprefix("torch."),
            "prompt_format": "chat_template",
        }

    def _task_ids(self, tasks: Sequence[str | int] | None, n: int) -> list[int] | None:
        if not self.task_routed:
            return None
        if tasks is None:
            raise AdapterError(
                f"adapter {self.adapter_id} routes its experts by task: pass the task of every item "
                f"(`tasks=`, names from {', '.join(TASKS)} or their indices)."
            )
        if len(tasks) != n:
            raise ValueError(f"got {len(tasks)} tasks for {n} items; give one task per item.")
        ids = []
        for task in tasks:
            if isinstance(task, str):
                if task not in TASKS:
                    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}.")
                task = TASKS.index(task)
            ids.append(int(task))
        return ids

    def _render(self, conversation: Conversation) -> str:
        chat = []
        has_image = False
        for message in conversation:
            content = message["content"]
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
            has_image = has_image or any(p.get("type") == "image" for p in parts)
            chat.append({"role": message["role"], "content": parts})
        if not has_image:
            first = next((m for m in chat if m["role"] == "user"), None)
            if first is None:
                raise ValueError("a conversation needs at least one user message.")
            first["content"] = [{"type": "image"}, *first["content"]]
        return self.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)

    def generate(
        self,
        batch: Sequence[tuple[Image.Image, Conversation]],
        tasks: Sequence[str | int] | None = None,
    ) -> list[str]:
        """Answer each (image, conversation) pair: the assistant's next message, special tokens removed.

        The conversation's first user message gets the image (an ``{"type": "image"}`` part is added when it has
        none); string ``content`` is accepted for text-only messages. Work is split into ``batch_size`` chunks.

        Args:
            batch: pairs of a PIL image and a chat (see :func:`messages`).
            tasks: each item's task (name or index in ``rsgpt4v.schema.TASKS``); required with a task-routed
                MoE-LoRA adapter, ignored otherwise.

        Returns:
            The generated texts, stripped of surrounding whitespace, in input order.
        """
        task_ids = self._task_ids(tasks, len(batch))
        out: list[str] = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            ids = task_ids[start : start + self.batch_size] if task_ids is not None else None
            out.extend(self._generate_chunk(chunk, ids))
        return out

    def model_inputs(self, batch: Sequence[tuple[Image.Image, Conversation]]) -> Any:
        """The model inputs of (image, conversation) pairs, as :meth:`generate` builds them.

        Images are prepared with :func:`rsgpt4v.images.prepare_image` and the processor arguments of
        :func:`processor_image_kwargs`, into pixel values by :class:`rsgpt4v.pixels.PixelValues` (as the training
        collator does); prompts with the chat template and a generation prompt; the batch is left-padded, on the
        model's device, with ``pixel_values`` in the model's dtype.
        """
        mean = getattr(self.processor.image_processor, "image_mean", None)
        pixels = self._pixels([prepare_image(image, self.image_aspect, mean) for image, _ in batch])
        texts = [self._render(conversation) for _, conversation in batch]
        # The processor gets the finished pixel values; it expands each image token to their number of patches.
        inputs = self.processor(
            images=pixels, text=texts, padding=True, padding_side="left", return_tensors="pt", **PREPARED
        ).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return inputs

    def generation_kwargs(self) -> dict[str, Any]:
        """The keyword arguments :meth:`generate` passes to ``model.generate`` (besides the inputs)."""
        tokenizer = self.processor.tokenizer
        return dict(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            num_beams=self.num_beams,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )

    def task_routing(self, tasks: Sequence[str | int] | None, n: int) -> Any:
        """A context that routes a task-routed MoE-LoRA adapter by ``tasks`` (one per item); a no-op otherwise.

        Raises:
            AdapterError: the adapter routes by task and ``tasks`` is ``None``.
            ValueError: ``tasks`` has not ``n`` entries or names an unknown task.
        """
        return self._routing(self._task_ids(tasks, n))

    def _generate_chunk(
        self, chunk: Sequence[tuple[Image.Image, Conversation]], task_ids: list[int] | None
    ) -> list[str]:
        import torch

        inputs = self.model_inputs(chunk)
        with torch.inference_mode(), self._routing(task_ids):
            generated = self.model.generate(**inputs, **self.generation_kwargs())
        new_tokens = generated[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]

    def _routing(self, task_ids: list[int] | None) -> Any:
        import contextlib

        import torch

        if task_ids is None:
            return contextlib.nullcontext()
        return self.model.route_tasks(torch.tensor(task_ids, device=self.device))

    def ask(
        self, image: Image.Image, prompt: str, history: Sequence[tuple[str, str]] = (), task: str | None = None
    ) -> str:
        """Answer one question about one image (see :func:`messages` for ``history``)."""
        return self.generate([(image, messages(prompt, history))], tasks=[task] if task is not None else None)[0]
