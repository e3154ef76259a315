"""Procedural remote-sensing-like scenes with ground truth by construction: the embedded sample of rsgpt4v.

A scene is a square aerial view of ``GROUND_EXTENT_M`` metres: a land-cover background (grassland, farmland,
bare soil or forest) with roads, ponds, buildings (rotated rectangles with coloured roofs), storage tanks,
airplanes, trees and vehicles drawn on it. Every object is placed without touching another one, so each can be
counted, and its category, colour, pixel box, position words and pixel area are recorded as it is drawn.
Captions, VQA of the RSVQA question types, grounding expressions, region captions, detailed descriptions and
multi-turn conversations are written from that record, so every answer is true of the image.

VQA questions are subsampled by their answer with fixed probabilities (``_PRESENCE_ACCEPT``, ``_COUNT_ACCEPT``) so
that a model reading only the question cannot beat chance: every category gets as many presence ``yes`` as ``no``,
and its asked counts are spread evenly over its range. Comparisons are balanced true/false within each image.

Only numpy and PIL are used; the same seed gives the same pixels and the same PNG bytes. Object sizes scale with
the image side (64 px is the unit; at 64 px a building is 7-12 px wide), so any size works.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from rsgpt4v.schema import Record

__all__ = [
    "BACKGROUNDS",
    "CATEGORIES",
    "COLOURS",
    "GROUND_EXTENT_M",
    "PLURALS",
    "POSITIONS",
    "SYNTHETIC_TASKS",
    "URBAN_MIN_BUILDINGS",
    "VQA_TYPES",
    "Scene",
    "SceneObject",
    "make_scene",
    "position_of",
    "scene_png",
    "scene_seed",
    "synthetic_records",
    "where",
]

#: Side of every scene on the ground, in metres: one pixel is ``GROUND_EXTENT_M / size`` metres (2 m at 64 px).
GROUND_EXTENT_M = 128
#: Land-cover classes of the background, with their sampling probabilities in ``_BACKGROUND_P``.
BACKGROUNDS: tuple[str, ...] = ("grassland", "farmland", "bare soil", "forest")
_BACKGROUND_P = (0.3, 0.3, 0.25, 0.15)
#: Object categories, in drawing order (roads first, small things last).
CATEGORIES: tuple[str, ...] = ("road", "pond", "airplane", "building", "storage tank", "tree", "vehicle")
PLURALS: dict[str, str] = {c: c + "s" for c in CATEGORIES}
#: Colour names and the RGB each is drawn with, per category.
COLOURS: dict[str, dict[str, tuple[int, int, int]]] = {
    "road": {"grey": (92, 92, 96)},
    "pond": {"blue": (38, 74, 112)},
    "airplane": {"white": (238, 238, 236), "grey": (172, 176, 182)},
    "building": {
        "red": (178, 54, 42),
        "grey": (132, 132, 138),
        "blue": (56, 92, 166),
        "orange": (216, 126, 56),
        "white": (230, 230, 224),
    },
    "storage tank": {"white": (226, 226, 220), "grey": (160, 162, 166)},
    "tree": {"green": (32, 70, 32)},
    "vehicle": {
        "white": (242, 242, 242),
        "black": (26, 26, 30),
        "red": (204, 40, 40),
        "yellow": (232, 198, 40),
        "blue": (40, 72, 196),
    },
}
#: Position words by thirds of the image (row, column) of an object's box centre.
POSITIONS: tuple[tuple[str, str, str], ...] = (
    ("top left", "top", "top right"),
    ("left", "center", "right"),
    ("bottom left", "bottom", "bottom right"),
)
_WHERE = {
    "top left": "in the top left",
    "top": "at the top",
    "top right": "in the top right",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "in the bottom left",
    "bottom": "at the bottom",
    "bottom right": "in the bottom right",
}
#: A scene is ``urban`` when it has at least this many buildings (the image always covers the same ground).
URBAN_MIN_BUILDINGS = 3
#: The RSVQA question types the generator asks.
VQA_TYPES: tuple[str, ...] = ("presence", "comp", "count", "rural_urban", "area")
SYNTHETIC_TASKS: tuple[str, ...] = ("caption", "vqa", "grounding", "region_caption", "detail", "conversation")

# How many objects of each category a scene is drawn with (before placement, which may drop a crowded object).
# Roughly half the scenes hold a category and the non-zero counts are spread evenly; questions are then subsampled
# by answer (``_PRESENCE_ACCEPT``, ``_COUNT_ACCEPT``) to balance exactly.
_COUNT_P: dict[str, dict[int, float]] = {
    "road": {0: 0.4, 1: 0.4, 2: 0.2},
    "pond": {0: 0.55, 1: 0.3, 2: 0.15},
    "airplane": {0: 0.55, 1: 0.25, 2: 0.2},
    "storage tank": {0: 0.5, 1: 1 / 6, 2: 1 / 6, 3: 1 / 6},
    "tree": {0: 0.5, 1: 0.125, 2: 0.125, 3: 0.125, 4: 0.125},
    "vehicle": {0: 0.5, 1: 0.125, 2: 0.125, 3: 0.125, 4: 0.125},
}
_BUILDING_P = {"rural": {0: 0.6, 1: 0.2, 2: 0.2}, "urban": {3: 0.5, 4: 0.5}}
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_BACKGROUND_PLACE = {
    "grassland": "on grassland",
    "farmland": "among farmland",
    "bare soil": "on bare soil",
    "forest": "in a forest",
}


# The designed count distribution of every category over all scenes (``density=None``).
_DESIGNED: dict[str, dict[int, float]] = {
    **_COUNT_P,
    "building": {k: 0.5 * _BUILDING_P["rural"].get(k, 0) + 0.5 * _BUILDING_P["urban"].get(k, 0) for k in range(5)},
}
# Probability of asking a count question given its answer, so that the asked counts of a category are uniform.
_COUNT_ACCEPT = {c: {k: min(p.values()) / v for k, v in p.items()} for c, p in _DESIGNED.items()}
# Probability of asking a presence question given its answer, so that each category gets as many yes as no.
_PRESENCE_ACCEPT = {
    c: {True: min(1.0, p[0] / (1 - p[0])), False: min(1.0, (1 - p[0]) / p[0])} for c, p in _DESIGNED.items()
}


@dataclass(frozen=True)
class SceneObject:
    """One drawn object and its ground truth.

    Attributes:
        category: one of ``CATEGORIES``.
        colour: the colour name it is drawn with (a key of ``COLOURS[category]``).
        bbox: pixel ``(x1, y1, x2, y2)`` of its visible pixels, continuous (``x2`` is one past the last column).
        position: the third of the image its box centre lies in (a word of ``POSITIONS``).
        pixel_area: number of its visible pixels.
        orientation: ``horizontal`` or ``vertical`` for roads, else ``None``.
        on_road: for vehicles, whether it stands on a road.
    """

    category: str
    colour: str
    bbox: tuple[float, float, float, float]
    position: str
    pixel_area: int
    orientation: str | None = None
    on_road: bool = False

    @property
    def description(self) -> str:
        """A one-sentence description of the object alone (the region caption)."""
        place = where(self.position)
        if self.category == "building":
            text = f"a building with {_article(self.colour)} {self.colour} roof {place}"
        elif self.category == "road":
            text = f"a road running {self.orientation}ly {place}"
        elif self.category == "vehicle":
            text = f"a {self.colour} vehicle {'on the road' if self.on_road else 'parked off the road'} {place}"
        elif len(COLOURS[self.category]) > 1:
            text = f"{_article(self.colour)} {self.colour} {self.category} {place}"
        else:
            text = f"{_article(self.category)} {self.category} {place}"
        return text[0].upper() + text[1:] + "."


@dataclass
class Scene:
    """A generated image and its ground truth.

    Attributes:
        image: the RGB image.
        size: its side in pixels.
        seed: the seed it was made from.
        background: the land-cover class of the background (one of ``BACKGROUNDS``).
        objects: every drawn object.
        labels: ``(size, size)`` uint8 map: 0 for background, ``i + 1`` where ``objects[i]`` is visible.
        excluded: categories the scene does not show and no question asks about (trees in a forest, where
            they could not be told apart from the canopy).
    """

    image: Image.Image
    size: int
    seed: int
    background: str
    objects: list[SceneObject]
    labels: np.ndarray
    excluded: tuple[str, ...] = ()

    @property
    def gsd_m(self) -> float:
        """Ground sampling distance: metres per pixel."""
        return GROUND_EXTENT_M / self.size

    @property
    def rural_urban(self) -> str:
        """``urban`` with at least ``URBAN_MIN_BUILDINGS`` buildings, else ``rural``."""
        return "urban" if self.count("building") >= URBAN_MIN_BUILDINGS else "rural"

    @property
    def asked_categories(self) -> tuple[str, ...]:
        """The categories questions may ask about (all but ``excluded``)."""
        return tuple(c for c in CATEGORIES if c not in self.excluded)

    def count(self, category: str, colour: str | None = None) -> int:
        """Number of objects of a category (and colour, if given)."""
        return sum(o.category == category and colour in (None, o.colour) for o in self.objects)

    def area_m2(self, category: str) -> int:
        """Ground area covered by the visible pixels of a category, in whole square metres (rounded down)."""
        pixels = sum(o.pixel_area for o in self.objects if o.category == category)
        return pixels * GROUND_EXTENT_M**2 // self.size**2


def where(position: str) -> str:
    """The phrase for a position word: ``top left`` -> ``in the top left``, ``top`` -> ``at the top``."""
    return _WHERE[position]


def position_of(bbox: Sequence[float], size: int) -> str:
    """The position word of a box: the third of the image (row, column) its centre lies in."""
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return POSITIONS[min(2, int(3 * cy / size))][min(2, int(3 * cx / size))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ----------------------------------------------------------------------------------------------------------------
# Rendering


def _noise(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``cell`` pixels wide."""
    n = max(2, math.ceil(size / max(cell, 1.0)) + 1)
    coarse = Image.fromarray(rng.random((n, n), dtype=np.float32))
    return np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def _shade(colour: Sequence[float], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * factor)))) for c in colour)  # type: ignore[return-value]


def _background(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """An ``(size, size, 3)`` float image of a land-cover class."""
    u = size / 64
    if kind == "farmland":
        img = np.empty((size, size, 3), np.float32)
        crops = np.array([(112, 156, 66), (176, 164, 96), (146, 124, 82), (88, 128, 50), (190, 178, 112)], np.float32)
        cuts = np.sort(rng.uniform(0.2, 0.8, rng.integers(1, 3))) * size
        xs = np.concatenate([[0], cuts, [size]]).astype(int)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        for x0, x1 in zip(xs[:-1], xs[1:]):
            ys = np.concatenate([[0], np.sort(rng.uniform(0.25, 0.75, rng.integers(0, 2))) * size, [size]]).astype(int)
            for y0, y1 in zip(ys[:-1], ys[1:]):
                colour = crops[rng.integers(len(crops))]
                period = rng.uniform(2.0, 3.5) * u
                rows = xx if rng.random() < 0.5 else yy
                stripes = 0.93 + 0.07 * np.sin(2 * np.pi * rows[y0:y1, x0:x1] / period)
                img[y0:y1, x0:x1] = colour * stripes[..., None]
        img *= (0.9 + 0.2 * _noise(rng, size, 12 * u))[..., None]
    else:
        base, cell, amp = {
            "grassland": ((98, 142, 62), 14 * u, 0.3),
            "bare soil": ((172, 142, 104), 10 * u, 0.25),
            "forest": ((44, 88, 42), 2.5 * u, 0.7),
        }[kind]
        texture = 0.6 * _noise(rng, size, cell) + 0.4 * _noise(rng, size, cell / 4)
        img = np.array(base, np.float32) * (1 - amp / 2 + amp * texture)[..., None]
    return img + rng.normal(0, 3, (size, size, 1)).astype(np.float32)


def _rotated(points: np.ndarray, angle: float, cx: float, cy: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]]) + (cx, cy)


def _rectangle(w: float, h: float) -> np.ndarray:
    return np.array([(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)])


@functools.lru_cache(maxsize=8)
def _unit_circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _circle(r: float, jitter: np.ndarray | None = None, n: int = 20) -> np.ndarray:
    radius = r * (1 + jitter) if jitter is not None else r
    return _unit_circle(n) * np.asarray(radius).reshape(-1, 1)


def _airplane(length: float) -> np.ndarray:
    """Outline of an airplane seen from above, nose along +x, centred on the origin."""
    half = [
        (0.50, 0.0),
        (0.40, 0.07),
        (0.16, 0.07),
        (-0.08, 0.48),
        (-0.20, 0.48),
        (-0.08, 0.07),
        (-0.32, 0.07),
        (-0.44, 0.20),
        (-0.50, 0.20),
        (-0.47, 0.05),
    ]
    outline = half + [(x, -y) for x, y in reversed(half[1:])]
    return np.array(outline) * length


@dataclass
class _Thing:
    """An object before it is drawn: outline polygon, colour and attributes."""

    category: str
    colour: str
    outline: np.ndarray
    angle: float = 0.0
    orientation: str | None = None
    on_road: bool = False
    style: int = 0


@dataclass
class _Layout:
    """Placement state: occupied boxes (with margins) and the roads' centre lines (centre, direction, width)."""

    rng: np.random.Generator
    size: int
    road_lines: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def u(self) -> float:
        return self.size / 64

    def fits(self, outline: np.ndarray, avoid_roads: bool = True) -> bool:
        """Reserve room for an outline if it lies inside the image, clear of every placed object (and of roads)."""
        u, shadow = self.u, self.u * 1.2
        x1, y1 = outline.min(axis=0)
        x2, y2 = outline.max(axis=0)
        if x1 < u or y1 < u or x2 + shadow > self.size - u or y2 + shadow > self.size - u:
            return False
        margin = 1.5 * u
        box = (x1 - margin, y1 - margin, x2 + shadow + margin, y2 + shadow + margin)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in self.boxes):
            return False
        clearance = (x1 - u / 2, y1 - u / 2, x2 + shadow + u / 2, y2 + shadow + u / 2)
        if avoid_roads and any(self._crosses(clearance, *line) for line in self.road_lines):
            return False
        self.boxes.append(box)
        return True

    @staticmethod
    def _crosses(
        box: tuple[float, float, float, float], centre: np.ndarray, direction: np.ndarray, width: float
    ) -> bool:
        """Whether a box meets a road strip: the signed distances of its corners to the centre line reach the strip."""
        corners = np.array([(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]) - centre
        distances = corners @ np.array((-direction[1], direction[0]))
        return bool(distances.max() > -width / 2 and distances.min() < width / 2)


def _make_road(layout: _Layout, orientation: str) -> _Thing:
    rng, size, u = layout.rng, layout.size, layout.u
    width = rng.uniform(4, 6) * u
    tilt = math.radians(rng.uniform(-12, 12))
    offset = rng.uniform(0.22, 0.78) * size
    theta = tilt if orientation == "horizontal" else math.pi / 2 + tilt
    centre = np.array((size / 2, offset) if orientation == "horizontal" else (offset, size / 2))
    direction = np.array((math.cos(theta), math.sin(theta)))
    normal = np.array((-direction[1], direction[0]))
    ends = [centre - direction * size, centre + direction * size]
    outline = np.array(
        [
            ends[0] + normal * width / 2,
            ends[1] + normal * width / 2,
            ends[1] - normal * width / 2,
            ends[0] - normal * width / 2,
        ]
    )
    layout.road_lines.append((centre, direction, width))
    return _Thing("road", "grey", outline, theta, orientation=orientation)


# Half the smallest extent of an object of each category (in units of size / 64): no centre closer to the edge fits.
_MIN_HALF = {"pond": 3.9, "airplane": 7.0, "building": 3.5, "storage tank": 3.5, "tree": 2.3, "vehicle": 1.8}


def _propose(layout: _Layout, category: str) -> _Thing | None:
    """A random candidate object of a category, or ``None`` when its centre is too close to a placed object."""
    rng, u = layout.rng, layout.u
    on_road = category == "vehicle" and bool(layout.road_lines) and rng.random() < 0.7
    if on_road:  # along a road, inside its strip, facing either way
        centre, direction, width = layout.road_lines[int(rng.integers(len(layout.road_lines)))]
        lane = (width / 2 - 2.1 * u) * rng.uniform(-1, 1)
        cx, cy = (
            centre + direction * rng.uniform(-0.5, 0.5) * layout.size + np.array((-direction[1], direction[0])) * lane
        )
        angle = math.atan2(direction[1], direction[0]) + (math.pi if rng.random() < 0.5 else 0.0)
    else:
        low = (_MIN_HALF[category] + 1) * u  # the smallest object of the category with its shadow still fits
        cx, cy = rng.uniform(low, layout.size - low - 1.2 * u, 2)
        angle = rng.uniform(0, 2 * math.pi)
    reach = _MIN_HALF[category] * u  # even the smallest object of the category would touch a box this close
    if any(b[0] - reach < cx < b[2] + reach and b[1] - reach < cy < b[3] + reach for b in layout.boxes):
        return None
    names = list(COLOURS[category])
    colour = names[int(rng.integers(len(names)))]
    if category == "building":
        angle = math.radians(rng.uniform(-30, 30)) if rng.random() < 0.7 else 0.0
        local = _rectangle(rng.uniform(7, 12) * u, rng.uniform(7, 12) * u)
    elif category == "pond":
        t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
        jitter = sum(0.1 * np.sin(f * t + p) for f, p in zip((2, 3, 5), rng.uniform(0, 2 * np.pi, 3)))
        local = _circle(rng.uniform(6, 9) * u, jitter, 28) * (1.0, rng.uniform(0.65, 1.0))
    elif category == "airplane":
        local = _airplane(rng.uniform(14, 18) * u)
    elif category == "storage tank":
        local = _circle(rng.uniform(3.5, 5) * u, n=24)
    elif category == "tree":
        local = _circle(rng.uniform(2.6, 3.6) * u, rng.uniform(-0.12, 0.12, 14), 14)
    else:  # vehicle: 3.6 u wide, so 1.8 u either side of its centre line (2.1 u keeps it 0.3 u inside the road)
        local = _rectangle(rng.uniform(6.5, 7.5) * u, 3.6 * u)
    return _Thing(category, colour, _rotated(local, angle, cx, cy), angle, on_road=on_road, style=int(rng.integers(2)))


def _polygon(outline: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in outline]


def _draw_details(draw: ImageDraw.ImageDraw, thing: _Thing, u: float) -> None:
    """Texture inside an object's outline (a thing's pixels outside it are masked off; road dashes stay inside)."""
    rgb = COLOURS[thing.category][thing.colour]
    c = thing.outline.mean(axis=0)
    if thing.category == "building" and thing.style == 0:  # pitched roof: the half behind the ridge is darker
        a, b, e, d = thing.outline
        if np.linalg.norm(b - a) >= np.linalg.norm(d - a):
            half = [a, b, (b + e) / 2, (a + d) / 2]
        else:
            half = [a, (a + b) / 2, (d + e) / 2, d]
        draw.polygon(_polygon(np.array(half)), fill=_shade(rgb, 0.9))
    elif thing.category == "building" and u >= 2:  # flat roof with a rooftop unit
        draw.polygon(_polygon(_rotated(_rectangle(2 * u, 2 * u), thing.angle, *c)), fill=_shade(rgb, 0.8))
    elif thing.category == "storage tank":
        r = float(np.linalg.norm(thing.outline[0] - c))
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], outline=_shade(rgb, 0.78), width=max(1, round(0.6 * u)))
        if u >= 2:
            r2 = r * 0.55
            draw.ellipse(
                [c[0] - r2, c[1] - r2, c[0] + r2, c[1] + r2], outline=_shade(rgb, 0.88), width=max(1, round(0.3 * u))
            )
    elif thing.category == "tree":
        r = float(np.linalg.norm(thing.outline - c, axis=1).mean()) * 0.45
        hx, hy = c - r * 0.5
        draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=_shade(rgb, 1.3))
    elif thing.category == "vehicle" and u >= 2:
        front = _rotated(
            np.array([(1.2 * u, -1.4 * u), (2.2 * u, -1.4 * u), (2.2 * u, 1.4 * u), (1.2 * u, 1.4 * u)]),
            thing.angle,
            *c,
        )
        draw.polygon(_polygon(front), fill=(40, 48, 60) if thing.colour != "black" else (90, 100, 120))
    elif thing.category == "road" and u >= 2:
        centre = thing.outline.mean(axis=0)
        direction = np.array((math.cos(thing.angle), math.sin(thing.angle)))
        step = 6 * u
        for k in range(-math.ceil(2 * 64 / 6), math.ceil(2 * 64 / 6)):
            p, q = centre + direction * k * step, centre + direction * (k * step + 3 * u)
            draw.line([tuple(p), tuple(q)], fill=(214, 214, 204), width=max(1, round(0.4 * u)))


def _draw_count(rng: np.random.Generator, probs: dict[int, float]) -> int:
    values = list(probs)
    return int(values[rng.choice(len(values), p=np.array(list(probs.values())) / sum(probs.values()))])


def _place_things(layout: _Layout, wanted: dict[str, int]) -> list[_Thing]:
    """Place the wanted number of objects of each category; an object with no room after 60 tries is dropped."""
    things: list[_Thing] = []
    for category in CATEGORIES[1:]:
        for _ in range(wanted[category]):
            for _ in range(60):
                thing = _propose(layout, category)
                if thing is not None and layout.fits(thing.outline, avoid_roads=not thing.on_road):
                    things.append(thing)
                    break
    return things


def make_scene(seed: int, size: int = 64, density: str | None = None) -> Scene:
    """Generate one scene.

    Args:
        seed: any non-negative integer; the same seed and size give the same image, byte for byte.
        size: side of the square image in pixels (at least 32); objects scale with it.
        density: ``rural`` (0-2 buildings), ``urban`` (3-4 buildings) or ``None`` (either, at random). Crowded
            scenes may drop an object that finds no room, so read the truth from the returned scene.

    Returns:
        The scene: image and ground truth.

    Raises:
        ValueError: on a negative seed, a size below 32 or an unknown density.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"make_scene: seed must be a non-negative integer, got {seed!r}.")
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise ValueError(f"make_scene: size must be an integer of at least 32 pixels, got {size!r}.")
    if density not in (None, "rural", "urban"):
        raise ValueError(f"make_scene: density must be 'rural', 'urban' or None, got {density!r}.")
    size = int(size)
    # Two streams: the layout does not depend on the size (objects scale), the texture does.
    rng, texture = np.random.default_rng([int(seed), 0]), np.random.default_rng([int(seed), 1])
    background = BACKGROUNDS[rng.choice(len(BACKGROUNDS), p=_BACKGROUND_P)]
    drawn_density = ("rural", "urban")[rng.integers(2)]
    wanted = {c: _draw_count(rng, p) for c, p in _COUNT_P.items()}
    wanted["building"] = _draw_count(rng, _BUILDING_P[density or drawn_density])
    excluded = ("tree",) if background == "forest" else ()
    for category in excluded:
        wanted[category] = 0

    image = Image.fromarray(np.clip(_background(texture, size, background), 0, 255).astype(np.uint8))
    labels = Image.new("L", (size, size), 0)
    image_draw, label_draw = ImageDraw.Draw(image), ImageDraw.Draw(labels)
    layout = _Layout(rng, size)
    first = ("horizontal", "vertical")[rng.integers(2)]
    orientations = (first, "vertical" if first == "horizontal" else "horizontal")[: wanted["road"]]
    roads = [_make_road(layout, o) for o in orientations]
    for i, road in enumerate(roads, start=1):
        image_draw.polygon(_polygon(road.outline), fill=COLOURS["road"]["grey"])
        _draw_details(image_draw, road, layout.u)
        label_draw.polygon(_polygon(road.outline), fill=i)
    things = _place_things(layout, wanted)

    shadow = Image.new("L", (size, size), 0)
    shadow_draw = ImageDraw.Draw(shadow)
    offset = 1.2 * layout.u
    for thing in things:
        if thing.category != "pond":
            shadow_draw.polygon(_polygon(thing.outline + offset), fill=1)
    ground = np.asarray(image).astype(np.float32)
    ground[np.asarray(shadow) > 0] *= 0.6
    ground_image = Image.fromarray(ground.astype(np.uint8))
    layer = ground_image.copy()
    layer_draw = ImageDraw.Draw(layer)
    for i, thing in enumerate(things, start=len(roads) + 1):
        layer_draw.polygon(_polygon(thing.outline), fill=COLOURS[thing.category][thing.colour])
        _draw_details(layer_draw, thing, layout.u)
        label_draw.polygon(_polygon(thing.outline), fill=i)
    label_map = np.asarray(labels).copy()
    pixels = np.where((label_map > len(roads))[..., None], np.asarray(layer), np.asarray(ground_image)).astype(
        np.float32
    )
    pixels += texture.normal(0, 2.5, (size, size, 1)).astype(np.float32)
    rgb = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    objects = []
    for i, thing in enumerate([*roads, *things], start=1):  # every object keeps visible pixels: nothing overlaps
        mask = label_map == i
        cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
        bbox = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
        position = position_of(bbox, size)
        area = int(np.count_nonzero(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))
        objects.append(
            SceneObject(thing.category, thing.colour, bbox, position, area, thing.orientation, thing.on_road)
        )
    return Scene(rgb, size, int(seed), background, objects, label_map, excluded)


def scene_png(scene: Scene) -> bytes:
    """The scene's image as PNG bytes (deterministic: the same scene gives the same bytes)."""
    buffer = io.BytesIO()
    scene.image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------------
# Text: every sentence is written from the scene's objects.


def _number(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def _count_phrase(n: int, category: str) -> str:
    """``no buildings``, ``one building``, ``three buildings``."""
    return f"{_number(n)} {category if n == 1 else PLURALS[category]}"


def _join(items: Sequence[str], last: str = "and") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _present(scene: Scene) -> list[str]:
    return [c for c in scene.asked_categories if scene.count(c)]


def _absent(scene: Scene) -> list[str]:
    return [c for c in scene.asked_categories if not scene.count(c)]


def _inventory(scene: Scene, categories: Sequence[str]) -> str:
    return _join([_count_phrase(scene.count(c), c) for c in categories])


def _area_kind(scene: Scene) -> str:
    return "an urban" if scene.rural_urban == "urban" else "a rural"


_BACKGROUND_NOUN = {"grassland": "grassland", "farmland": "farmland", "bare soil": "bare soil", "forest": "a forest"}


def _captions(scene: Scene, rng: np.random.Generator) -> list[dict]:
    present, absent = _present(scene), _absent(scene)
    ground, place = _BACKGROUND_NOUN[scene.background], _BACKGROUND_PLACE[scene.background]
    refs = [
        f"An aerial view of {ground} with {_inventory(scene, present)}."
        if present
        else f"An aerial view of {ground} without any objects.",
        f"{_capital(_area_kind(scene))} area {place} with {_count_phrase(scene.count('building'), 'building')}.",
    ]
    buildings = [o for o in scene.objects if o.category == "building"]
    if buildings:
        colours = sorted({o.colour for o in buildings})
        roofs = f"{_join(colours)} roofs" if len(buildings) > 1 else f"{_article(colours[0])} {colours[0]} roof"
        verb = "stand" if len(buildings) > 1 else "stands"
        refs.append(f"{_capital(_count_phrase(len(buildings), 'building'))} with {roofs} {verb} {place}.")
    others = [c for c in present if c != "building"]
    if others:
        picked = set(rng.permutation(others)[:3])
        chosen = [c for c in others if c in picked]
        verb = "is" if scene.count(chosen[0]) == 1 else "are"
        refs.append(f"There {verb} {_inventory(scene, chosen)} in this {scene.rural_urban} scene.")
    if absent:
        picked = set(rng.permutation(absent)[:2])
        missing = [c for c in absent if c in picked]
        lacking = _join([PLURALS[c] for c in missing], "or")
        head = _capital(ground)
        refs.append(
            f"{head} with {_inventory(scene, present)} but no {lacking}." if present else f"{head} with no {lacking}."
        )
    keep = int(rng.integers(3, len(refs) + 1))
    chosen_refs = sorted(rng.permutation(len(refs))[:keep])
    return [{"references": [refs[i] for i in chosen_refs]}]


# Key of a VQA item's categories (the ones its question is about), read and dropped by ``synthetic_records``.
_NAMES = "categories"


def _vqa(scene: Scene, rng: np.random.Generator) -> list[dict]:
    """Questions of every RSVQA type, subsampled so that answers are balanced over the dataset (module docstring)."""
    categories = scene.asked_categories
    counts = {c: scene.count(c) for c in categories}
    items: list[dict] = []

    def add(question: str, answer: str, question_type: str, *names: str) -> None:
        items.append({"question": question, "answer": answer, "question_type": question_type, _NAMES: names})

    for c in categories:
        if rng.random() < _PRESENCE_ACCEPT[c][counts[c] > 0]:
            question = f"Is there {_article(c)} {c}?" if rng.random() < 0.5 else f"Is {_article(c)} {c} present?"
            add(question, "yes" if counts[c] else "no", "presence", c)
    for c in categories:
        if rng.random() < _COUNT_ACCEPT[c].get(counts[c], 1.0):
            question = (
                f"How many {PLURALS[c]} are there?" if rng.random() < 0.5 else f"What is the number of {PLURALS[c]}?"
            )
            add(question, str(counts[c]), "count", c)
    true_q, false_q = [], []
    for i, a in enumerate(categories):
        for b in categories[i + 1 :]:
            if not (counts[a] or counts[b]):
                continue
            if rng.random() < 0.5:
                a, b = b, a
            truth = {
                f"Are there more {PLURALS[a]} than {PLURALS[b]}?": counts[a] > counts[b],
                f"Are there fewer {PLURALS[a]} than {PLURALS[b]}?": counts[a] < counts[b],
                f"Are there as many {PLURALS[a]} as {PLURALS[b]}?": counts[a] == counts[b],
            }
            true_q.append((next(q for q, t in truth.items() if t), a, b))
            false_q.append((str(rng.choice([q for q, t in truth.items() if not t])), a, b))
    k = min(2, len(true_q))
    for (question, a, b), answer in [
        *((true_q[j], "yes") for j in rng.permutation(len(true_q))[:k]),
        *((false_q[j], "no") for j in rng.permutation(len(false_q))[:k]),
    ]:
        add(question, answer, "comp", a, b)
    add("Is it a rural or an urban area?", scene.rural_urban, "rural_urban", "building")
    for c in ("building", "pond"):
        add(f"What is the area covered by {PLURALS[c]}?", f"{scene.area_m2(c)}m2", "area", c)
    return items


def _expressions(scene: Scene, index: int) -> list[tuple[str, bool, bool]]:
    """Referring expressions of one object that fit no other object: (text, names colour, names position)."""

    def forms(o: SceneObject) -> list[tuple[str, bool, bool]]:
        place = where(o.position)
        out = [(f"the {o.category}", False, False), (f"the {o.category} {place}", False, True)]
        if len(COLOURS[o.category]) > 1:
            out += [
                (f"the {o.colour} {o.category}", True, False),
                (f"the {o.colour} {o.category} {place}", True, True),
            ]
        return out

    every = [{text for text, _, _ in forms(o)} for o in scene.objects]
    return [f for f in forms(scene.objects[index]) if sum(f[0] in texts for texts in every) == 1]


def _grounding(scene: Scene, rng: np.random.Generator) -> list[dict]:
    items = []
    for i, o in enumerate(scene.objects):
        unique = _expressions(scene, i)
        if unique:
            text = unique[int(rng.integers(len(unique)))][0]
            items.append({"text": text, "category": o.category, "bbox": o.bbox})
    return items


def _region_captions(scene: Scene, rng: np.random.Generator) -> list[dict]:
    return [{"text": o.description, "category": o.category, "bbox": o.bbox} for o in scene.objects]


def _part(o: SceneObject) -> str:
    """One object inside a list of its category: ``one with a red roof in the top left``."""
    place = where(o.position)
    if o.category == "building":
        return f"one with {_article(o.colour)} {o.colour} roof {place}"
    if o.category == "road":
        return f"one running {o.orientation}ly {place}"
    if o.category == "vehicle":
        return f"{_article(o.colour)} {o.colour} one {'on the road' if o.on_road else 'parked off the road'} {place}"
    if len(COLOURS[o.category]) > 1:
        return f"{_article(o.colour)} {o.colour} one {place}"
    return f"one {place}"


def _detail(scene: Scene, rng: np.random.Generator) -> list[dict]:
    present, absent = _present(scene), _absent(scene)
    sentences = [
        f"This aerial image shows {_area_kind(scene)} area {_BACKGROUND_PLACE[scene.background]}, "
        f"{GROUND_EXTENT_M} m across ({scene.gsd_m:g} m per pixel)."
    ]
    if present:
        sentences.append(f"It contains {_inventory(scene, present)}.")
    for c in present:
        objects = [o for o in scene.objects if o.category == c]
        if len(objects) == 1:
            sentences.append(f"There is {objects[0].description[0].lower()}{objects[0].description[1:]}")
        else:
            sentences.append(f"There are {_count_phrase(len(objects), c)}: {_join([_part(o) for o in objects])}.")
    if absent:
        sentences.append(f"There are no {_join([PLURALS[c] for c in absent], 'or')}.")
    if scene.excluded:
        sentences.append("The forest canopy covers the ground; its trees are not counted one by one.")
    objects = [{"category": o.category, "bbox": list(o.bbox), "description": o.description} for o in scene.objects]
    return [{"text": " ".join(sentences), "objects": objects}]


def _conversation(scene: Scene, rng: np.random.Generator) -> list[dict]:
    """3-5 turns: a count first, then some of presence, colour, position, land cover and rural/urban."""
    categories = scene.asked_categories

    def there(n: int, c: str) -> str:
        return f"there {'is' if n == 1 else 'are'} {_count_phrase(n, c)}"

    c = str(rng.choice(categories))
    turns = [(f"How many {PLURALS[c]} can you see?", f"{_capital(there(scene.count(c), c))}.")]
    pool = []
    c = str(rng.choice(categories))
    n = scene.count(c)
    pool.append(
        (f"Is there {_article(c)} {c} in the image?", f"Yes, {there(n, c)}." if n else f"No, there is no {c}.")
    )
    named = [
        (i, text, colour, place) for i in range(len(scene.objects)) for text, colour, place in _expressions(scene, i)
    ]
    by_colour = [(i, t) for i, t, colour, _ in named if not colour and len(COLOURS[scene.objects[i].category]) > 1]
    if by_colour:
        i, text = by_colour[int(rng.integers(len(by_colour)))]
        colour = scene.objects[i].colour
        if scene.objects[i].category == "building":
            pool.append((f"What colour is the roof of {text}?", f"The roof is {colour}."))
        else:
            pool.append((f"What colour is {text}?", f"It is {colour}."))
    by_place = [(i, t) for i, t, _, place in named if not place]
    if by_place:
        i, text = by_place[int(rng.integers(len(by_place)))]
        pool.append((f"Where is {text}?", f"{_capital(text)} is {where(scene.objects[i].position)} of the image."))
    pool.append(("What is the main land cover?", f"The main land cover is {scene.background}."))
    pool.append(
        (
            "Is this a rural or an urban area?",
            f"It is {_area_kind(scene)} area with {_count_phrase(scene.count('building'), 'building')}.",
        )
    )
    extra = int(rng.integers(2, 5))
    turns += [pool[j] for j in sorted(rng.permutation(len(pool))[:extra])]
    return [{"question": q, "answer": a} for q, a in turns]


_TASK_ITEMS: dict[str, Callable[[Scene, np.random.Generator], list[dict]]] = {
    "caption": _captions,
    "vqa": _vqa,
    "grounding": _grounding,
    "region_caption": _region_captions,
    "detail": _detail,
    "conversation": _conversation,
}


def scene_seed(seed: int, index: int) -> int:
    """The ``make_scene`` seed of image ``index`` of the sample made with ``seed`` (to regenerate its ground truth)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _split(index: int, test_fraction: float) -> str:
    """``test`` for an evenly spread ``test_fraction`` of the image indices (the same for any ``n_images``)."""
    return "test" if math.floor((index + 1) * test_fraction) > math.floor(index * test_fraction) else "train"


def _check_subset(name: str, given: Sequence[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if given is None:
        return allowed
    if isinstance(given, str):
        raise ValueError(
            f"synthetic_records: {name} must be a list of names, got the string {given!r}; wrap it: [{given!r}]."
        )
    unknown = [g for g in given if g not in allowed]
    if unknown:
        raise ValueError(f"synthetic_records: unknown {name} {unknown!r}; choose from {', '.join(allowed)}.")
    return tuple(a for a in allowed if a in given)


def synthetic_records(
    n_images: int,
    size: int = 64,
    seed: int = 0,
    test_fraction: float = 0.2,
    tasks: Sequence[str] | None = None,
    vqa_types: Sequence[str] | None = None,
    vqa_categories: Sequence[str] | None = None,
) -> Iterator[Record]:
    """Generate scenes and yield their items as records of every task.

    Image ``i`` is ``synthetic/images/{i:06d}.png``, the scene ``make_scene(scene_seed(seed, i), size)``; it is in the
    ``test`` split when ``floor((i + 1) * test_fraction) > floor(i * test_fraction)``, else in ``train``. Item ``k``
    of a task gets the question id ``synthetic-{i:06d}-{task}-{k}``. Restricting ``tasks``, ``vqa_types`` or
    ``vqa_categories`` yields a subset of the unrestricted records, with the same ids and contents.

    Args:
        n_images: number of images.
        size: side of the images in pixels (at least 32).
        seed: non-negative seed of the whole sample.
        test_fraction: share of images in the ``test`` split, between 0 and 1.
        tasks: tasks to yield (default all of ``SYNTHETIC_TASKS``).
        vqa_types: VQA question types to yield (default all of ``VQA_TYPES``).
        vqa_categories: yield only the VQA questions about these categories (default all of ``CATEGORIES``): a
            comparison needs both of its categories listed, ``rural_urban`` (decided by the buildings) needs
            ``building``. The scenes themselves are unchanged.

    Yields:
        ``rsgpt4v.schema.Record`` items with ``source`` and ``origin`` ``synthetic`` and PNG ``image_bytes``.

    Raises:
        ValueError: on a negative ``n_images`` or ``seed``, a ``test_fraction`` outside [0, 1], a size below 32, or
            an unknown task, question type or category.
    """
    if not isinstance(n_images, (int, np.integer)) or n_images < 0:
        raise ValueError(f"synthetic_records: n_images must be a non-negative integer, got {n_images!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic_records: seed must be a non-negative integer, got {seed!r}.")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"synthetic_records: test_fraction must lie in [0, 1], got {test_fraction!r}.")
    selected = _check_subset("tasks", tasks, SYNTHETIC_TASKS)
    types = _check_subset("vqa_types", vqa_types, VQA_TYPES)
    asked = set(_check_subset("vqa_categories", vqa_categories, CATEGORIES))
    for index in range(n_images):
        scene = make_scene(scene_seed(seed, index), size)
        common = {
            "source": "synthetic",
            "origin": "synthetic",
            "split": _split(index, test_fraction),
            "image_path": f"synthetic/images/{index:06d}.png",
            "image_bytes": scene_png(scene),
            "width": scene.size,
            "height": scene.size,
        }
        for task in selected:
            rng = np.random.default_rng([seed, index, SYNTHETIC_TASKS.index(task)])
            for k, item in enumerate(_TASK_ITEMS[task](scene, rng)):
                if task == "vqa":
                    about = item.pop(_NAMES)
                    if item["question_type"] not in types or not asked.issuperset(about):
                        continue
                yield Record(task=task, question_id=f"synthetic-{index:06d}-{task}-{k}", **common, **item)
