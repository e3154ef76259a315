#!/usr/bin/env python3
"""Write a tiny FloodNet Track 2 copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``Questions/<Split> Question.json`` (spaces in the names) + ``Images/<Split>_Image/<Image_ID>``. Quirks
reproduced: a JSON object keyed by question id; ``Ground_Truth`` as strings (``"Yes"`` capitalised,
``"flooded,non flooded"``) and as integers for counting; upper-case ``.JPG``; valid and test questions without
``Ground_Truth`` (their answers are not public); 4000x3000 shrunk to 40x30.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (40, 30)  # the real images are 4000x3000
TRAIN = {
    "0": {
        "Image_ID": "10170.JPG",
        "Question": "What is the overall condition of the given image?",
        "Ground_Truth": "non flooded",
        "Question_Type": "Condition_Recognition",
    },
    "1": {
        "Image_ID": "10170.JPG",
        "Question": "Is the entire road non flooded?",
        "Ground_Truth": "Yes",
        "Question_Type": "Yes_No",
    },
    "2": {
        "Image_ID": "10170.JPG",
        "Question": "How many buildings can be seen in this image?",
        "Ground_Truth": 4,
        "Question_Type": "Simple_Counting",
    },
    "3": {
        "Image_ID": "10171.JPG",
        "Question": "How many buildings are flooded in this image?",
        "Ground_Truth": 0,
        "Question_Type": "Complex_Counting",
    },
    "4": {
        "Image_ID": "10171.JPG",
        "Question": "What is the overall condition of the given image?",
        "Ground_Truth": "flooded,non flooded",
        "Question_Type": "Condition_Recognition",
    },
}
VALID = {"5": {"Image_ID": "7606.JPG", "Question": "Is the entire road flooded?", "Question_Type": "Yes_No"}}
TEST = {
    "6": {
        "Image_ID": "6651.JPG",
        "Question": "How many buildings are non flooded in this image?",
        "Question_Type": "Complex_Counting",
    },
    "7": {
        "Image_ID": "6651.JPG",
        "Question": "What is the overall condition of the given image?",
        "Question_Type": "Condition_Recognition",
    },
}
FILES = {"Training": ("Train_Image", TRAIN), "Valid": ("Valid_Image", VALID), "Test": ("Test_Image", TEST)}


def generate(root: Path, seed: int = 0) -> None:
    """Write ``Questions/`` and ``Images/`` under ``root``."""
    rng = np.random.default_rng(seed + 8)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "Questions").mkdir(parents=True, exist_ok=True)
    for name, (folder, questions) in FILES.items():
        (root / "Questions" / f"{name} Question.json").write_text(json.dumps(questions))
        (root / "Images" / folder).mkdir(parents=True, exist_ok=True)
        for image_id in sorted({q["Image_ID"] for q in questions.values()}):
            pixels = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "Images" / folder / image_id, format="JPEG")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "FloodNet-Track2")
