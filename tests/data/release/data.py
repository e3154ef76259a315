#!/usr/bin/env python3
"""Write a tiny RS-GPT4V release folder (LLaVA conversation JSON, split train) with its images: ``python data.py OUT``.

The records follow LLaVA-1.5's conversation format (``id``, ``image``, ``conversations`` of ``human``/``gpt``
turns, the first human turn holding ``<image>``) and cover every kind the release adapter classifies by the first
human prompt: caption, VQA (with the answer suffix), grounding (LLaVA-1.5 prompt, ``norm01`` box answer on the
padded square), detail, free conversation; plus one record with an unknown image prefix, one whose grounding
answer is not a box, and one with an answer that has no question.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

CAPTION = "Provide a one-sentence caption for this remote sensing image."
SUFFIX = "\nAnswer the question using a single word or phrase."
GROUNDING = "Please provide the bounding box coordinate of the region this sentence describes: {}."
DETAIL = "What are the key elements in this picture?"
IMAGES = {
    "UCM_captions/imgs/5.tif": (16, 16),
    "RSVQA_LR/Images_LR/7.tif": (16, 16),
    "DIOR-RSVG/JPEGImages/00003.jpg": (80, 40),
    "RSITMD/images/boat_0.tif": (16, 16),
}


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    out = []
    for k, (human, gpt) in enumerate(pairs):
        out += [{"from": "human", "value": f"<image>\n{human}" if k == 0 else human}, {"from": "gpt", "value": gpt}]
    return out


RECORDS = [
    {
        "id": "ucm_5",
        "image": "UCM_captions/imgs/5.tif",
        "conversations": turns((CAPTION, "There is a piece of farmland .")),
    },
    {
        "id": "lr_7",
        "image": "RSVQA_LR/Images_LR/7.tif",
        "conversations": turns(("Is there a road?" + SUFFIX, "yes"), ("What is the number of roads?" + SUFFIX, "12")),
    },
    # 80x40 image padded to 80x80 (20 px above and below): the box [0.25, 0.375, 0.5, 0.625] is pixels 20,10,40,30.
    {
        "id": "dior_3",
        "image": "DIOR-RSVG/JPEGImages/00003.jpg",
        "conversations": turns((GROUNDING.format("the white storage tank on the left"), "[0.25, 0.375, 0.5, 0.625]")),
    },
    {
        "id": "dior_3_detail",
        "image": "DIOR-RSVG/JPEGImages/00003.jpg",
        "conversations": turns((DETAIL, "Two storage tanks beside a road.")),
    },
    {
        "id": "dior_3_chat",
        "image": "DIOR-RSVG/JPEGImages/00003.jpg",
        "conversations": turns(
            ("What is on the left?", "A white storage tank."), ("Is there a road?", "Yes, on the right.")
        ),
    },
    {"id": "rsitmd_boat", "image": "RSITMD/images/boat_0.tif", "conversations": turns((CAPTION, "A boat ."))},
    {
        "id": "dior_3_bad_box",
        "image": "DIOR-RSVG/JPEGImages/00003.jpg",
        "conversations": turns((GROUNDING.format("the bridge"), "on the left side")),
    },
    {
        "id": "ucm_5_orphan",
        "image": "UCM_captions/imgs/5.tif",
        "conversations": [{"from": "gpt", "value": "no question came before me"}],
    },
]


def generate(root: Path) -> None:
    """Write ``rs_gpt4v_train.json`` and its images under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "rs_gpt4v_train.json").write_text(json.dumps(RECORDS, indent=1))
    for rel, size in IMAGES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (30, 60, 90)).save(path)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "RS-GPT4V")
