"""Hand-made records for the build tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from rsgpt4v.schema import Record


def png(width: int = 40, height: int = 30, seed: int = 0, fmt: str = "PNG", mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 4000, (height, width), dtype=np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def records(split: str = "train", image: str = "a.png", seed: int = 0, source: str = "custom", origin="legacy"):
    data = png(seed=seed)
    common = dict(source=source, split=split, image_path=f"imgs/{image}", image_bytes=data, origin=origin)
    yield Record(task="caption", references=["a field.", "green land."], **common)
    yield Record(
        task="vqa",
        question="Is there a road?",
        answer="yes",
        question_type="presence",
        question_id=f"{split}-{image}-q1",
        **common,
    )
    yield Record(
        task="vqa",
        question="How many cars?",
        answer="2",
        question_type="count",
        question_id=f"{split}-{image}-q2",
        **common,
    )
    yield Record(task="grounding", text="the red roof", category="building", bbox=(2.0, 3.0, 20.0, 15.0), **common)
    yield Record(task="region_caption", text="a red roof", category="building", bbox=(2.0, 3.0, 20.0, 15.0), **common)
    yield Record(
        task="detail",
        text="A field with a building.",
        objects=[{"category": "building", "bbox": [2.0, 3.0, 20.0, 15.0], "description": "red roof"}],
        **common,
    )
    yield Record(task="conversation", question="What is here?", answer="A building.", **common)
    yield Record(task="conversation", question="What colour is its roof?", answer="Red.", **common)
