#!/usr/bin/env python3
"""Write a tiny NWPU-Captions copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``dataset_nwpu.json`` + ``NWPU_images/<category>/<filename>``. Quirks reproduced: a JSON object keyed by
category (not Karpathy-style), flat records with ``raw``, ``raw_1`` ... ``raw_4`` and integer scalar ``sentids``
... ``sentids_4``, ``imgid`` not starting at 0, zero-width spaces in a caption, and ``airplane_111.jpg`` listed in
the JSON but missing from the images, as in the published archive; 256x256 JPEG shrunk to 16x16.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16  # the real images are 256x256
MISSING = "airplane/airplane_111.jpg"
IMAGES = {
    "airplane": [
        ("airplane_001.jpg", 30800, "train"),
        ("airplane_111.jpg", 30910, "test"),
        ("airplane_631.jpg", 31430, "test"),
    ],
    "bare_land": [("bare_land_561.jpg", 33360, "val")],
}
CAPTIONS = [
    "Two larger planes and a smaller plane parked on the open area .",
    "There is a large area of \u200b\u200bdense brown bare land .",
    "Three airplanes are parked on the open place .",
    "There are three planes on the ground .",
    "A plane is parked .",
]


def generate(root: Path, seed: int = 0) -> None:
    """Write ``dataset_nwpu.json`` and ``NWPU_images/`` under ``root`` (without ``airplane_111.jpg``)."""
    rng = np.random.default_rng(seed + 5)  # a seed offset per dataset keeps images distinct across fixtures
    data: dict[str, list[dict]] = {}
    for category, entries in IMAGES.items():
        (root / "NWPU_images" / category).mkdir(parents=True, exist_ok=True)
        data[category] = []
        for filename, imgid, split in entries:
            record: dict = {"filename": filename, "imgid": imgid, "split": split}
            for k in range(5):
                suffix = "" if k == 0 else f"_{k}"
                record[f"raw{suffix}"] = CAPTIONS[(imgid + k) % len(CAPTIONS)]
                record[f"sentids{suffix}"] = imgid * 5 + k
            data[category].append(record)
            if f"{category}/{filename}" != MISSING:
                pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / "NWPU_images" / category / filename)
    (root / "dataset_nwpu.json").write_text(json.dumps(data))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "NWPU-Captions")
