"""The Ask tab's logic: read an uploaded image safely, write the task's prompt, stream the answer, find its boxes.

Uploads go through the build's storage rule (:func:`rsgpt4v.images.storage_bytes`): TIFF, 16-bit and float
rasters are converted for display exactly as a build converts them, and anything that is not a readable image is
refused with a message. Images over :data:`MAX_MEGAPIXELS` are downscaled (with a note). Prompts come from
:func:`rsgpt4v.prompts.instruction`; boxes in answers are read with :func:`rsgpt4v.boxes.find_boxes`, and box text
that does not parse is reported in a note, never raised.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsgpt4v.boxes import BoxFormat, encode, find_boxes, parse
from rsgpt4v.demo.explore import DemoInputError
from rsgpt4v.images import UnreadableImageError, prepare_image, storage_bytes
from rsgpt4v.prompts import instruction

__all__ = [
    "ASK_TASKS",
    "MAX_MEGAPIXELS",
    "AnswerBoxes",
    "UploadedImage",
    "answer_boxes",
    "ask_prompt",
    "read_upload",
    "stream_answer",
]

#: The Ask tab's tasks: label shown -> task of ``rsgpt4v.prompts`` (``chat`` is a multi-turn conversation).
ASK_TASKS: dict[str, str] = {
    "caption": "caption",
    "VQA": "vqa",
    "grounding": "grounding",
    "region caption": "region_caption",
    "detailed description": "detail",
    "multi-turn chat": "conversation",
}
#: Uploads with more pixels than this (in millions) are downscaled to it before use.
MAX_MEGAPIXELS = 50


@dataclass
class UploadedImage:
    """An upload ready for the model: an RGB image plus notes on what was done to it."""

    image: Any
    notes: list[str] = field(default_factory=list)


def read_upload(path: str | Path) -> UploadedImage:
    """Read an uploaded file as an RGB image, converting and downscaling as the module docstring says.

    Raises:
        DemoInputError: the file is empty, not an image, truncated, or of an unsupported raster layout.
    """
    from PIL import Image

    path = Path(path)
    name = path.name
    try:
        stored = storage_bytes(path.read_bytes(), name)
    except UnreadableImageError as exc:
        raise DemoInputError(
            f"{exc}. Upload a JPEG, PNG, WebP or TIFF image (16-bit and float rasters are converted)."
        ) from None
    except OSError as exc:
        raise DemoInputError(f"{name}: cannot read the uploaded file ({exc.strerror or exc}).") from None
    notes = []
    if stored.converted:
        notes.append(
            f"{name} ({stored.original_format}) was converted for display by the build's rule: 8-bit pixels kept, "
            "16-bit/float bands stretched from their 2nd to their 98th percentile."
        )
    image = Image.open(io.BytesIO(stored.data))
    image.load()
    image = image.convert("RGB")
    pixels = image.width * image.height
    if pixels > MAX_MEGAPIXELS * 1_000_000:
        scale = (MAX_MEGAPIXELS * 1_000_000 / pixels) ** 0.5
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        notes.append(
            f"{name} has {pixels / 1e6:.1f} megapixels ({image.width}x{image.height}); it was downscaled to "
            f"{size[0]}x{size[1]} (at most {MAX_MEGAPIXELS} megapixels). Boxes refer to the downscaled image."
        )
        image = image.resize(size, Image.Resampling.BOX)
    return UploadedImage(image=image, notes=notes)


def ask_prompt(task: str, text: str | None, width: int, height: int, box_format: str = "norm01") -> str:
    """The instruction for one question of the Ask tab.

    Args:
        task: a value of :data:`ASK_TASKS`.
        text: the question (VQA, chat), the referring expression (grounding) or the region as pixel
            ``[x1, y1, x2, y2]`` (region caption); ignored by caption and detailed description.
        width: image width in pixels (for the region's box text).
        height: image height in pixels.
        box_format: how the region's box is written into the prompt (the build's box format).

    Raises:
        DemoInputError: the text is empty where the task needs it, or the region is not a valid pixel box.
    """
    if task not in ASK_TASKS.values():
        raise DemoInputError(f"unknown task {task!r}; choose one of {', '.join(ASK_TASKS.values())}.")
    text = (text or "").strip()
    if task in ("caption", "detail"):
        return instruction(task)
    if not text:
        what = {
            "vqa": "a question",
            "conversation": "a message",
            "grounding": "a referring expression (e.g. 'the red building on the left')",
            "region_caption": "a region as pixel coordinates [x1, y1, x2, y2]",
        }[task]
        raise DemoInputError(f"the question is empty: the {task} task needs {what}.")
    if task == "vqa":
        return instruction("vqa", question=text)
    if task == "conversation":
        return instruction("conversation", question=text)
    if task == "grounding":
        return instruction("grounding", expression=text)
    try:
        boxes = parse(text, BoxFormat.PIXEL, width, height, pad_to_square=False)
    except ValueError as exc:
        raise DemoInputError(
            f"the region {text!r} is not a pixel box of this {width}x{height} image ({exc}). "
            "Write it as [x1, y1, x2, y2] in pixels, e.g. [10, 20, 60, 80]."
        ) from None
    if len(boxes) != 1:
        raise DemoInputError(f"give exactly one region, not {len(boxes)}: [x1, y1, x2, y2] in pixels.")
    return instruction("region_caption", box=encode(boxes[0], box_format, width=width, height=height))


@dataclass
class AnswerBoxes:
    """Boxes found in an answer (pixel ``xyxy`` of the asked image, labelled) and notes on box text that failed."""

    boxes: list[tuple[list[float], str]]
    notes: list[str]


def answer_boxes(answer: str, width: int, height: int) -> AnswerBoxes:
    """Read every box of an answer with the codec; malformed box text becomes a note (never an exception)."""
    found = find_boxes(answer, width, height)
    boxes = [(box.as_list(), f"box {k + 1}") for k, box in enumerate(found.boxes)]
    notes = [
        f"Box text {f.text!r} (character {f.start}) is not a valid {f.fmt.value} box: {f.reason}. "
        "It is shown as text only."
        for f in found.failures
    ]
    return AnswerBoxes(boxes=boxes, notes=notes)


def stream_answer(
    predictor: Any, image: Any, prompt: str, history: Sequence[tuple[str, str]] = (), task: str | None = None
) -> Iterator[str]:
    """Yield the answer of ``predictor`` to one question as it grows; the last value is the complete answer.

    The inputs are built as :meth:`rsgpt4v.inference.Predictor.generate` builds them (chat template, the
    training image preparation, the same processor arguments), and the complete answer is decoded from the
    generated tokens as it decodes them, so it equals ``predictor.ask(image, prompt, history, task)``.
    """
    import torch
    from transformers import TextIteratorStreamer

    from rsgpt4v.inference import messages

    processor = predictor.processor
    tokenizer = processor.tokenizer
    prepared = prepare_image(image, predictor.image_aspect, getattr(processor.image_processor, "image_mean", None))
    text = processor.apply_chat_template(messages(prompt, history), add_generation_prompt=True, tokenize=False)
    inputs = processor(
        images=[prepared], text=[text], return_tensors="pt", **predictor.settings["image_processor_kwargs"]
    ).to(predictor.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(predictor.dtype)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = dict(
        max_new_tokens=predictor.max_new_tokens,
        do_sample=predictor.do_sample,
        num_beams=1,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        streamer=streamer,
    )
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            routing = predictor.task_routing([task] if task else None, 1)
            with torch.inference_mode(), routing:
                result["tokens"] = predictor.model.generate(**inputs, **kwargs)
        except BaseException as exc:  # handed to the caller below
            result["error"] = exc
            streamer.end()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    partial = ""
    for piece in streamer:
        partial += piece
        yield partial.strip()
    worker.join()
    if "error" in result:
        raise result["error"]
    new_tokens = result["tokens"][:, inputs["input_ids"].shape[1] :]
    yield tokenizer.batch_decode(new_tokens, skip_special_tokens=True)[0].strip()
