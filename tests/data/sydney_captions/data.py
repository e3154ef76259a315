#!/usr/bin/env python3
"""Write a tiny Sydney-Captions copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``dataset.json`` + ``images/<n>.tif`` (the torchrs folder name; ``imgs/`` is the other accepted one).
Quirks reproduced: Karpathy JSON, an image with fewer than five distinct captions padded by repetition, the typo
``hosues`` kept verbatim, 500x500 ``.tif`` images shrunk to 20x20.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 20  # the real images are 500x500
IMAGES = [
    (
        "1.tif",
        "train",
        ["A residential area with houses arranged neatly .", "A residential area with many hosues arranged neatly ."],
    ),
    ("2.tif", "val", ["A river goes through this area .", "Some boats on the river ."]),
    ("3.tif", "test", ["An industrial area with many white buildings ."]),
]


def generate(root: Path, seed: int = 0) -> None:
    """Write ``dataset.json`` and ``images/`` under ``root``."""
    rng = np.random.default_rng(seed + 2)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, sentid = [], 0
    for imgid, (filename, split, distinct) in enumerate(IMAGES):
        raws = (distinct * 5)[:5]  # padded to five by repetition
        sentences = []
        for raw in raws:
            sentences.append({"tokens": raw.split()[:-1], "raw": raw, "imgid": imgid, "sentid": sentid})
            sentid += 1
        images.append(
            {
                "sentids": [s["sentid"] for s in sentences],
                "imgid": imgid,
                "sentences": sentences,
                "split": split,
                "filename": filename,
            }
        )
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "images" / filename)
    (root / "dataset.json").write_text(json.dumps({"images": images}))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "Sydney_captions")
