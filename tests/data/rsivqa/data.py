#!/usr/bin/env python3
"""Write a tiny RSIVQA copy and its parents' images in their original layouts: ``python data.py OUT_DIR``.

Writes ``OUT/RSIVQA/`` (the annotation text files, exact line grammar ``<image>:<question>?<answer>``) and the
parent roots ``OUT/UCM_captions``, ``OUT/Sydney_captions``, ``OUT/RSICD`` (each with its caption JSON, which
gives an image its split), ``OUT/DOTA`` (``train/images``, ``val/images``) and ``OUT/HRRSD/JPEGImages``.
Quirks reproduced: DOTA and HRRSD lines with a space after the colon and no file extension, the folder named AID
holding RSICD images, varying case, template double spaces (``the  in this picture``) and odd answers (``i cannot
see it``), number words; plus bad lines: a question without an answer, an answer without a question, a line
without ``?``, and an image its parent does not list.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from PIL import Image

LINES = {
    "UCM/ucm_vqa.txt": [
        "1.tif:what is the theme of this picture?farmland",
        "101.tif:what is the theme of this picture?medium residential",
    ],
    "UCM/ucm_res.txt": [
        "1.tif:What is the theme of this picture?farmland",
        "1.tif:Does this picture contain an airplane?no",
        "1.tif:How many trees in the picture?one",
        "10.tif:What is the location of the  in this picture?i cannot see it",
        "1.tif:how many cars are there?",
        "1.tif:?yes",
        "1.tif:is there a road",
        "999.tif:is there a road?yes",
    ],
    "Sydney/sydney_vqa.txt": ["3.tif:what is the theme of this picture?rivers"],
    "AID/rsicd_vqa.txt": [
        "00433.jpg:what is the theme of this picture?denseresidential",
        "playground_98.jpg:how many  in the picture?2",
    ],
    "HRRSD/opt_val_vqa.txt": [
        "00001: how many planes are there in this picture?21",
        "00002: does this picture contain ship?yes",
    ],
    "DOTA/dota_train_vqa2.txt": ["P0000: how many planes are there in this picture?21"],
    "DOTA/dota_val_vqa2.txt": [
        "P0003: how many small vehicles are there in this picture?15",
        "P0003: does this picture contain plane?no",
    ],
}
#: caption parent -> (folder, annotation file, image folder, {filename: split})
CAPTION_PARENTS = {
    "ucm": ("UCM_captions", "dataset.json", "imgs", {"1.tif": "train", "10.tif": "test", "101.tif": "val"}),
    "sydney": ("Sydney_captions", "dataset.json", "imgs", {"3.tif": "test"}),
    "rsicd": ("RSICD", "dataset_rsicd.json", "RSICD_images", {"00433.jpg": "train", "playground_98.jpg": "val"}),
}
OTHER_IMAGES = [
    "DOTA/train/images/P0000.png",
    "DOTA/val/images/P0003.png",
    "HRRSD/JPEGImages/00001.jpg",
    "HRRSD/JPEGImages/00002.jpg",
]


def _image(path: Path) -> None:
    """A 12x10 image whose colour comes from its path, so that no two fixture images are identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = tuple(hashlib.sha256(str(path.name).encode()).digest()[:3])
    Image.new("RGB", (12, 10), colour).save(path)


def generate(root: Path) -> None:
    """Write ``RSIVQA/`` and the parent roots under ``root``."""
    for rel, lines in LINES.items():
        path = root / "RSIVQA" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{line}\n" for line in lines))
    for folder, ann, images, splits in CAPTION_PARENTS.values():
        records = [
            {
                "filename": name,
                "imgid": k,
                "split": split,
                "sentences": [{"raw": "a scene .", "sentid": k}],
                "sentids": [k],
            }
            for k, (name, split) in enumerate(splits.items())
        ]
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / ann).write_text(json.dumps({"images": records}))
        for name in splits:
            _image(root / folder / images / name)
    for rel in OTHER_IMAGES:
        _image(root / rel)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "out")
