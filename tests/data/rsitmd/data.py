#!/usr/bin/env python3
"""Write a tiny RSITMD copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``dataset_RSITMD.json`` + ``images/<class>_<n>.tif``. Quirks reproduced: only ``train`` and ``test``
splits, one blank sentence (``"raw": ""``, as in copies from before the 2021-10-28 fix), an unknown per-image key
(``keywords``) that must be ignored; 256x256 ``.tif`` shrunk to 16x16.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16  # the real images are 256x256
IMAGES = [
    (
        "baseballfield_452.tif",
        "train",
        [
            "There is a baseball field beside the green amusement park around the red track.",
            "A baseball field is next to a park.",
            "",
            "Green trees surround a baseball field.",
            "A baseball field and a track.",
        ],
    ),
    ("boat_0.tif", "test", ["A boat is on the sea."] * 5),
]


def generate(root: Path, seed: int = 0) -> None:
    """Write ``dataset_RSITMD.json`` and ``images/`` under ``root``."""
    rng = np.random.default_rng(seed + 4)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, sentid = [], 0
    for imgid, (filename, split, raws) in enumerate(IMAGES):
        sentences = []
        for raw in raws:
            sentences.append({"tokens": raw.lower().split(), "raw": raw, "imgid": imgid, "sentid": sentid})
            sentid += 1
        images.append(
            {
                "sentids": [s["sentid"] for s in sentences],
                "imgid": imgid,
                "sentences": sentences,
                "split": split,
                "filename": filename,
                "keywords": ["baseball", "field"],
            }
        )
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / "images" / filename)
    (root / "dataset_RSITMD.json").write_text(json.dumps({"images": images}))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "RSITMD")
