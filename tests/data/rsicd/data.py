#!/usr/bin/env python3
"""Write a tiny RSICD copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``annotations_rsicd/dataset_rsicd.json`` + ``RSICD_images/<name>.jpg``. Quirks reproduced: RSICD's key
order (``filename, imgid, sentences, split, sentids``), a numeric file name (``00001.jpg``) beside class names,
lower-case ``tokens`` that do not match ``raw``, inconsistent final punctuation, a leading double space, captions
repeated to reach five; 224x224 JPEG shrunk to 24x24.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 24  # the real images are 224x224
IMAGES = [
    (
        "airport_1.jpg",
        "train",
        [
            "Many aircraft are parked next to a long building in an airport.",
            "many planes are parked next to a long building in an airport .",
        ],
    ),
    ("00001.jpg", "test", ["  there are some buildings .", "some buildings and trees are near a termial ."]),
    ("playground_98.jpg", "val", ["a playground is surrounded by trees ."]),
]


def generate(root: Path, seed: int = 0) -> None:
    """Write ``annotations_rsicd/dataset_rsicd.json`` and ``RSICD_images/`` under ``root``."""
    rng = np.random.default_rng(seed + 3)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "RSICD_images").mkdir(parents=True, exist_ok=True)
    (root / "annotations_rsicd").mkdir(exist_ok=True)
    images, sentid = [], 0
    for imgid, (filename, split, distinct) in enumerate(IMAGES):
        sentences = []
        for raw in (distinct * 5)[:5]:
            tokens = ["many", "planes"] if filename.startswith("airport") else raw.lower().split()
            sentences.append({"tokens": tokens, "raw": raw, "imgid": imgid, "sentid": sentid})
            sentid += 1
        images.append(
            {
                "filename": filename,
                "imgid": imgid,
                "sentences": sentences,
                "split": split,
                "sentids": [s["sentid"] for s in sentences],
            }
        )
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "RSICD_images" / filename, quality=90)
    (root / "annotations_rsicd" / "dataset_rsicd.json").write_text(json.dumps({"images": images}))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "RSICD")
