#!/usr/bin/env python3
"""Write a tiny RSVQA-HR copy in its original layout (seeded): ``python data.py OUT_DIR``.

Quirks reproduced: four splits including ``test_phili``; split files built from a whole database (inactive image
placeholders, question and answer placeholders before each active image's first id, no trailing placeholders);
ids equal to list positions; answers always strings, area answers as ``"10632m2"`` and ``"0m2"``; images
``Data/<id>.tif`` (512x512 shrunk to 16x16), one of them stored as ``.png`` as some redistributions do.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16  # the real tiles are 512x512
SPLITS = {"train": [0, 1], "val": [2], "test": [3], "test_phili": [4]}  # database image ids per split
PNG_IMAGE = 2  # stored as Data/2.png
TEMPLATES = [
    ("presence", "Is there a residential building?", ["yes", "no"]),
    ("count", "How many roads are there?", ["0", "12"]),
    ("comp", "Is the number of buildings equal to the number of roads?", ["yes", "no"]),
    ("area", "What is the area covered by residential areas?", ["10632m2", "0m2"]),
    ("area", "What is the area covered by small parkings?", ["0m2", "348m2"]),
]


def generate(root: Path, seed: int = 0) -> None:
    """Write the fixture under ``root`` (``USGS_split_*`` files and ``Data/<id>.tif``)."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed + 7)  # a seed offset per dataset keeps images distinct across fixtures
    root.mkdir(parents=True, exist_ok=True)
    (root / "Data").mkdir(exist_ok=True)
    n_images = sum(len(ids) for ids in SPLITS.values())
    db = [[(t, q, rng.choice(a)) for t, q, a in TEMPLATES] for _ in range(n_images)]
    first = [sum(len(e) for e in db[:i]) for i in range(n_images)]
    for split, active in SPLITS.items():
        images, questions, answers = [], [], []
        for image_id, entry in enumerate(db):
            if image_id not in active:
                images.append({"id": image_id, "active": False})
                continue
            ids = list(range(first[image_id], first[image_id] + len(entry)))
            images.append(
                {
                    "id": image_id,
                    "date_added": 1.6e9,
                    "original_name": f"{1206 + image_id}.png",
                    "sensor": "ULTRACAM_EAGLE_FALCON",
                    "upperleft_map_x": 2.6e6,
                    "upperleft_map_y": 1.3e6,
                    "res_x": ".1524m",
                    "res_y": ".1524m",
                    "people_id": 0,
                    "type": "0",
                    "questions_ids": ids,
                    "active": True,
                }
            )
            while len(questions) < ids[0]:
                questions.append({"id": len(questions), "active": False})
                answers.append({"id": len(answers), "active": False})
            for q, (qtype, text, answer) in zip(ids, entry):
                questions.append(
                    {
                        "id": q,
                        "date_added": 1.6e9,
                        "img_id": image_id,
                        "people_id": 0,
                        "type": qtype,
                        "question": text,
                        "answers_ids": [q],
                        "active": True,
                    }
                )
                answers.append(
                    {"id": q, "date_added": 1.6e9, "question_id": q, "people_id": 0, "answer": answer, "active": True}
                )
        for kind, entries in (("images", images), ("questions", questions), ("answers", answers)):
            (root / f"USGS_split_{split}_{kind}.json").write_text(json.dumps({kind: entries}))
    for image_id in range(n_images):
        pixels = np_rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        ext = ".png" if image_id == PNG_IMAGE else ".tif"
        Image.fromarray(pixels).save(root / "Data" / f"{image_id}{ext}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "RSVQA_HR")
