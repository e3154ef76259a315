#!/usr/bin/env python3
"""Write a tiny DIOR-RSVG copy in its original layout (seeded): ``python data.py OUT_DIR``.

Layout ``Annotations/<stem>.xml`` + ``JPEGImages/<stem>.jpg`` + ``train.txt``/``val.txt``/``test.txt``. Quirks
reproduced: split files hold expression indices (a running count over every ``<object>`` of the XML files in
sorted name order), non-contiguous DIOR image names, several objects per XML with children ``name, pose, bndbox,
description`` in that order, mixed-case class names (``Expressway-Service-area``), an object with an empty
description, a degenerate box and a box outside the image (each listed in a split, so each must be rejected),
and an object in no split at all (counted, never read). Images are 800x800 JPEGs as in DIOR.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 800
#: stem -> objects (name, (xmin, ymin, xmax, ymax), description); indices run over this order.
OBJECTS = {
    "00003": [
        ("storagetank", (39, 281, 87, 324), "The white rounded storage tank on the left"),  # 0
        ("Expressway-Service-area", (133, 237, 684, 672), "The expressway service area in the middle"),  # 1
    ],
    "00007": [("dam", (500, 610, 780, 790), "The dam is on the lower right of the slender gray bridge")],  # 2
    "00012": [
        ("tenniscourt", (300, 300, 340, 360), "The tennis court in the middle"),  # 3
        ("tenniscourt", (10, 10, 40, 40), ""),  # 4: empty description
        ("bridge", (200, 100, 200, 180), "The bridge at the top"),  # 5: degenerate (xmin == xmax)
        ("ship", (700, 700, 820, 760), "The ship at the lower right"),  # 6: outside the 800x800 image
        ("airplane", (50, 50, 90, 90), "The airplane in no split"),  # 7: in no split file
    ],
}
SPLITS = {"train": [0, 2, 4, 5], "val": [1, 6], "test": [3]}

_XML = """<annotation>
\t<filename>{stem}.jpg</filename>
\t<source>
\t\t<database>DIOR</database>
\t</source>
\t<size>
\t\t<width>800</width>
\t\t<height>800</height>
\t\t<depth>3</depth>
\t</size>
\t<segmented>0</segmented>
{objects}</annotation>
"""
_OBJECT = """\t<object>
\t\t<name>{name}</name>
\t\t<pose>Unspecified</pose>
\t\t<bndbox>
\t\t\t<xmin>{box[0]}</xmin>
\t\t\t<ymin>{box[1]}</ymin>
\t\t\t<xmax>{box[2]}</xmax>
\t\t\t<ymax>{box[3]}</ymax>
\t\t</bndbox>
\t\t<description>{description}</description>
\t</object>
"""


def generate(root: Path, seed: int = 0) -> None:
    """Write the annotations, images and split files under ``root``."""
    rng = np.random.default_rng(seed + 9)  # a seed offset per dataset keeps images distinct across fixtures
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "JPEGImages").mkdir(exist_ok=True)
    for stem, objects in OBJECTS.items():
        body = "".join(_OBJECT.format(name=n, box=b, description=d) for n, b, d in objects)
        (root / "Annotations" / f"{stem}.xml").write_text(_XML.format(stem=stem, objects=body))
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((SIZE, SIZE)).save(root / "JPEGImages" / f"{stem}.jpg", quality=80)
    for split, indices in SPLITS.items():
        (root / f"{split}.txt").write_text("".join(f"{i}\n" for i in indices))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "DIOR_RSVG")
