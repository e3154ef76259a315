#!/usr/bin/env python3
"""Write a tiny UCM-Captions copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``dataset.json`` + ``imgs/<n>.tif``. Quirks reproduced: Karpathy JSON with the UCM/Sydney key order
(``sentids, imgid, sentences, split, filename``), 0-based ``imgid`` for ``1.tif``, captions ending in ``" ."``,
a repeated caption, numbered ``.tif`` images (256x256 shrunk to 16x16).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16  # the real images are 256x256
CAPTIONS = [
    "There is a piece of farmland .",
    "It is a piece of cropland .",
    "Many planes parked next to the terminal .",
    "Two  planes on the runway .",
    "Some buildings and green trees .",
]
SPLITS = {"1.tif": "train", "2.tif": "train", "81.tif": "test", "101.tif": "val", "102.tif": "test"}


def generate(root: Path, seed: int = 0) -> None:
    """Write ``dataset.json`` and ``imgs/`` under ``root``."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed + 1)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    images, sentid = [], 0
    for imgid, (filename, split) in enumerate(SPLITS.items()):
        raws = [rng.choice(CAPTIONS) for _ in range(4)]
        raws.append(raws[0])  # repeated caption, as in the real file
        sentences = []
        for raw in raws:
            tokens = raw.replace(" .", "").split()
            sentences.append({"tokens": tokens, "raw": raw, "imgid": imgid, "sentid": sentid})
            sentid += 1
        ids = [s["sentid"] for s in sentences]
        images.append({"sentids": ids, "imgid": imgid, "sentences": sentences, "split": split, "filename": filename})
        pixels = np_rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "imgs" / filename)
    (root / "dataset.json").write_text(json.dumps({"images": images, "dataset": "ucm"}))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "UCM_captions")
