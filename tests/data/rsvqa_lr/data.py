#!/usr/bin/env python3
"""Write a tiny RSVQA-LR copy in its original layout (seeded): ``python data.py OUT_DIR``.

Quirks reproduced: split files built from a whole database (one image entry per database image, inactive
placeholders ``{"id": i, "active": false}`` for the other splits' images, question and answer placeholders before
each active image's first id, no trailing placeholders), ids equal to list positions, answers always strings, the
rural_urban question without a question mark, a double space in a question, 256x256 shrunk to 16x16 ``.tif``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 16  # the real tiles are 256x256
SPLITS = {"train": [0, 2, 3], "val": [4], "test": [1]}  # database image ids per split
TEMPLATES = [
    ("rural_urban", "Is it a rural or an urban area", ["rural", "urban"]),
    ("presence", "Is there a water area?", ["yes", "no"]),
    ("presence", "Is there a road next to a  commercial building?", ["yes", "no"]),
    ("count", "What is the number of roads?", ["0", "4", "403", "16218"]),
    ("comp", "Are there more farmlands than rectangular roads?", ["yes", "no"]),
]


def database(seed: int = 0) -> list[dict]:
    """The whole database: per image, its questions as (type, question, answer)."""
    rng = random.Random(seed)
    n_images = sum(len(ids) for ids in SPLITS.values())
    return [
        {"questions": [(t, q, rng.choice(a)) for t, q, a in TEMPLATES[: rng.randint(3, len(TEMPLATES))]]}
        for _ in range(n_images)
    ]


def split_files(db: list[dict], active_ids: list[int], sensor: dict) -> dict[str, list[dict]]:
    """The images/questions/answers lists of one split, built as the authors' Splits.py builds them."""
    qid = 0
    first_qids = []
    for entry in db:
        first_qids.append(qid)
        qid += len(entry["questions"])
    images, questions, answers = [], [], []
    for image_id, entry in enumerate(db):
        if image_id not in active_ids:
            images.append({"id": image_id, "active": False})
            continue
        ids = list(range(first_qids[image_id], first_qids[image_id] + len(entry["questions"])))
        images.append(
            {
                "id": image_id,
                "date_added": 1579865382.1 + image_id,
                "original_name": f"{419 + image_id}.png",
                **sensor,
                "people_id": 0,
                "type": "0",
                "questions_ids": ids,
                "active": True,
            }
        )
        while len(questions) < ids[0]:
            questions.append({"id": len(questions), "active": False})
            answers.append({"id": len(answers), "active": False})
        for q, (qtype, text, answer) in zip(ids, entry["questions"]):
            questions.append(
                {
                    "id": q,
                    "date_added": 1579865382.19,
                    "img_id": image_id,
                    "people_id": 0,
                    "type": qtype,
                    "question": text,
                    "answers_ids": [q],
                    "active": True,
                }
            )
            answers.append(
                {
                    "id": q,
                    "date_added": 1579865382.19,
                    "question_id": q,
                    "people_id": 0,
                    "answer": answer,
                    "active": True,
                }
            )
    return {"images": images, "questions": questions, "answers": answers}


def generate(root: Path, seed: int = 0) -> None:
    """Write the fixture under ``root`` (``LR_split_*`` files and ``Images_LR/<id>.tif``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Images_LR").mkdir(exist_ok=True)
    np_rng = np.random.default_rng(seed + 6)  # a seed offset per dataset keeps images distinct across fixtures
    db = database(seed)
    sensor = {
        "sensor": "S2",
        "upperleft_map_x": 470644.92,
        "upperleft_map_y": 6756027.16,
        "res_x": "10m",
        "res_y": "10m",
    }
    for split, ids in SPLITS.items():
        for kind, entries in split_files(db, ids, sensor).items():
            (root / f"LR_split_{split}_{kind}.json").write_text(json.dumps({kind: entries}))
    for image_id in range(len(db)):
        pixels = np_rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "Images_LR" / f"{image_id}.tif")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "RSVQA_LR")
