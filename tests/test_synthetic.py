"""The synthetic scenes: determinism, sizes, and the truth of every item, re-derived from the objects and pixels."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest
from PIL import Image

from rsgpt4v.schema import Record
from rsgpt4v.synthetic import (
    COLOURS,
    SYNTHETIC_TASKS,
    VQA_TYPES,
    Scene,
    make_scene,
    scene_png,
    scene_seed,
    synthetic_records,
)

# The vocabulary, written out here so that the checks do not reuse the generator's own tables.
SINGULAR = {
    "buildings": "building",
    "roads": "road",
    "ponds": "pond",
    "trees": "tree",
    "vehicles": "vehicle",
    "storage tanks": "storage tank",
    "airplanes": "airplane",
}
NUMBERS = {"no": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
PHRASE_TO_POSITION = {
    "in the top left": "top left",
    "at the top": "top",
    "in the top right": "top right",
    "on the left": "left",
    "in the center": "center",
    "on the right": "right",
    "in the bottom left": "bottom left",
    "at the bottom": "bottom",
    "in the bottom right": "bottom right",
}
CATEGORY_RE = "|".join(sorted(SINGULAR.values(), key=len, reverse=True))
PLURAL_RE = "|".join(sorted(SINGULAR, key=len, reverse=True))
NOUN_RE = f"{PLURAL_RE}|{CATEGORY_RE}"
COLOUR_RE = "|".join(sorted({c for colours in COLOURS.values() for c in colours}))
PLACE_RE = "|".join(PHRASE_TO_POSITION)
SEED = 7
N_IMAGES = 300


def noun_category(noun: str) -> str:
    return SINGULAR.get(noun, noun)


def third_position(bbox, size: int) -> str:
    rows, cols = ("top", "", "bottom"), ("left", "", "right")
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    row, col = rows[min(2, int(cy * 3 // size))], cols[min(2, int(cx * 3 // size))]
    return f"{row} {col}".strip() or "center"


def count(scene: Scene, category: str, colour: str | None = None) -> int:
    return sum(o.category == category and (colour is None or o.colour == colour) for o in scene.objects)


def label_pixels(scene: Scene, category: str) -> int:
    ids = [i + 1 for i, o in enumerate(scene.objects) if o.category == category]
    return int(np.isin(scene.labels, ids).sum())


@pytest.fixture(scope="module")
def sample() -> list[Record]:
    return list(synthetic_records(N_IMAGES, size=64, seed=SEED))


@pytest.fixture(scope="module")
def scenes() -> dict[int, Scene]:
    return {i: make_scene(scene_seed(SEED, i), 64) for i in range(60)}


def index_of(record: Record) -> int:
    return int(record.image_path.rsplit("/", 1)[1].split(".")[0])


# ----------------------------------------------------------------------------------------------------------------
# Scenes


@pytest.mark.parametrize("size", [64, 256, 512])
def test_same_seed_same_png_bytes(size):
    first, second = make_scene(11, size), make_scene(11, size)
    assert scene_png(first) == scene_png(second)
    assert first.objects == second.objects
    assert scene_png(make_scene(12, size)) != scene_png(first)


@pytest.mark.parametrize("size", [32, 64, 100, 256, 512])
def test_sizes(size):
    scene = make_scene(5, size)
    assert scene.image.mode == "RGB" and scene.image.size == (size, size)
    assert scene.labels.shape == (size, size)
    decoded = Image.open(io.BytesIO(scene_png(scene)))
    assert decoded.format == "PNG"
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(scene.image))
    assert scene.gsd_m == pytest.approx(128 / size)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_layout_is_the_same_at_every_size(seed):
    small, large = make_scene(seed, 64), make_scene(seed, 512)
    assert [(o.category, o.colour) for o in small.objects] == [(o.category, o.colour) for o in large.objects]
    for a, b in zip(small.objects, large.objects):
        assert np.allclose(np.array(a.bbox) * 8, b.bbox, atol=10)  # the same object, scaled


@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_objects_match_pixels(seed, size):
    scene = make_scene(seed, size)
    assert scene.background in ("grassland", "farmland", "bare soil", "forest")
    pixels = np.asarray(scene.image).astype(int)
    things = []
    for i, o in enumerate(scene.objects, start=1):
        x1, y1, x2, y2 = o.bbox
        assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
        ys, xs = np.nonzero(scene.labels == i)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == o.bbox
        assert len(xs) == o.pixel_area > 0
        assert o.position == third_position(o.bbox, size)
        nominal = np.array(COLOURS[o.category][o.colour])
        # Most of the object's own pixels show its colour...
        close = np.linalg.norm(pixels[ys, xs] - nominal, axis=1) < 40
        assert close.mean() > 0.6, (o, close.mean())
        # ... and the box holds that colour, whatever the label map says.
        region = pixels[int(y1) : int(y2), int(x1) : int(x2)]
        assert (np.linalg.norm(region - nominal, axis=2) < 40).sum() >= 0.5 * o.pixel_area
        if o.category != "road":
            things.append(o.bbox)
        if o.category == "vehicle" and o.on_road:
            roads = [r.bbox for r in scene.objects if r.category == "road"]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            assert any(r[0] <= cx <= r[2] and r[1] <= cy <= r[3] for r in roads)
    for k, a in enumerate(things):  # objects never touch, so each can be counted
        for b in things[k + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    if scene.background == "forest":
        assert count(scene, "tree") == 0 and scene.excluded == ("tree",)


def test_density_controls_rural_urban():
    for seed in range(20):
        assert make_scene(seed, 64, density="rural").rural_urban == "rural"
        urban = make_scene(seed, 64, density="urban")
        assert urban.rural_urban == ("urban" if count(urban, "building") >= 3 else "rural")
    assert sum(make_scene(s, 64, density="urban").rural_urban == "urban" for s in range(20)) >= 18


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1, "size": 16}, "size must be an integer of at least 32"),
        ({"seed": 1, "density": "suburban"}, "density must be 'rural', 'urban' or None, got 'suburban'"),
    ],
)
def test_make_scene_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_scene(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": ["captions"]}, "unknown tasks ['captions']; choose from caption, vqa"),
        ({"tasks": "vqa"}, "tasks must be a list of names, got the string 'vqa'"),
        ({"vqa_types": ["counting"]}, "unknown vqa_types ['counting']; choose from presence"),
        ({"vqa_categories": ["car"]}, "unknown vqa_categories ['car']; choose from road, pond"),
        ({"vqa_categories": "road"}, "vqa_categories must be a list of names, got the string 'road'"),
        ({"test_fraction": 1.5}, "test_fraction must lie in [0, 1], got 1.5"),
        ({"seed": -3}, "seed must be a non-negative integer, got -3"),
    ],
)
def test_synthetic_records_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        next(synthetic_records(1, **kwargs))


def test_import_stays_light():
    code = "import sys, rsgpt4v.synthetic; print('torch' in sys.modules, 'datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ----------------------------------------------------------------------------------------------------------------
# Records: schema, ids, splits, restrictions


def test_records_follow_the_schema(sample):
    ids = [r.question_id for r in sample]
    assert len(ids) == len(set(ids))
    per_image_task = defaultdict(list)
    for r in sample:
        r.validate()
        assert (r.source, r.origin) == ("synthetic", "synthetic")
        assert (r.width, r.height) == (64, 64) and r.image_bytes.startswith(b"\x89PNG")
        assert re.fullmatch(r"synthetic/images/\d{6}\.png", r.image_path)
        per_image_task[(index_of(r), r.task)].append(r)
    for (index, task), records in per_image_task.items():
        assert [r.question_id for r in records] == [f"synthetic-{index:06d}-{task}-{k}" for k in range(len(records))]
        assert len({r.split for r in records}) == 1
    assert {task for _, task in per_image_task} == set(SYNTHETIC_TASKS)
    assert {r.question_type for r in sample if r.task == "vqa"} == set(VQA_TYPES)
    for index in range(N_IMAGES):
        assert (index, "caption") in per_image_task and (index, "detail") in per_image_task


def test_records_are_deterministic_and_regenerate_their_scene(sample):
    again = list(synthetic_records(5, size=64, seed=SEED))
    assert again == [r for r in sample if index_of(r) < 5]
    first = sample[0]
    assert scene_png(make_scene(scene_seed(SEED, 0), 64)) == first.image_bytes
    assert [r.image_bytes for r in synthetic_records(1, seed=SEED + 1)][0] != first.image_bytes


def test_split_by_index():
    splits = [r.split for r in synthetic_records(50, seed=3, tasks=["caption"], test_fraction=0.2)]
    assert splits.count("test") == 10
    assert splits[:10] == ["train"] * 4 + ["test"] + ["train"] * 4 + ["test"]
    longer = [r.split for r in synthetic_records(60, seed=3, tasks=["caption"], test_fraction=0.2)]
    assert longer[:50] == splits
    assert {r.split for r in synthetic_records(5, tasks=["caption"], test_fraction=0.0)} == {"train"}
    assert {r.split for r in synthetic_records(5, tasks=["caption"], test_fraction=1.0)} == {"test"}


def about_only(r: Record, categories: set[str]) -> bool:
    """Whether a VQA record's question names only these categories (rural/urban is about buildings)."""
    if r.question_type == "rural_urban":
        return "building" in categories
    named = {SINGULAR.get(word, word) for word in re.findall(rf"\b(?:{PLURAL_RE}|{CATEGORY_RE})\b", r.question)}
    assert named, r.question
    return named <= categories


def test_restrictions_give_a_subset(sample):
    restricted = list(synthetic_records(40, size=64, seed=SEED, tasks=["vqa"], vqa_types=["presence", "count"]))
    full = {r.question_id: r for r in sample}
    assert restricted and all(full[r.question_id] == r for r in restricted)
    assert {r.question_type for r in restricted} == {"presence", "count"}
    expected = [r for r in sample if index_of(r) < 40 and r.question_type in ("presence", "count")]
    assert restricted == expected
    pond_building = list(synthetic_records(40, size=64, seed=SEED, vqa_categories=["pond", "building"]))
    assert all(full[r.question_id] == r for r in pond_building)
    expected = [r for r in sample if index_of(r) < 40 and (r.task != "vqa" or about_only(r, {"pond", "building"}))]
    assert pond_building == expected
    assert {r.question_type for r in pond_building if r.task == "vqa"} == set(VQA_TYPES)
    assert len(expected) < len([r for r in sample if index_of(r) < 40])
    grounding = list(synthetic_records(10, seed=SEED, tasks=["grounding", "caption"]))
    assert {r.task for r in grounding} == {"grounding", "caption"}


# ----------------------------------------------------------------------------------------------------------------
# Truth of every item


def check_vqa(r: Record, scene: Scene) -> None:
    q, a = r.question, r.answer
    if r.question_type == "presence":
        m = re.fullmatch(rf"Is there (?:a|an) ({CATEGORY_RE})\?", q) or re.fullmatch(
            rf"Is (?:a|an) ({CATEGORY_RE}) present\?", q
        )
        assert m and m[1] not in scene.excluded, q
        assert a == ("yes" if count(scene, m[1]) else "no"), (q, a)
    elif r.question_type == "count":
        m = re.fullmatch(rf"How many ({PLURAL_RE}) are there\?", q) or re.fullmatch(
            rf"What is the number of ({PLURAL_RE})\?", q
        )
        assert m and a == str(count(scene, SINGULAR[m[1]])), (q, a)
    elif r.question_type == "comp":
        m = re.fullmatch(rf"Are there (more|fewer) ({PLURAL_RE}) than ({PLURAL_RE})\?", q)
        if m:
            x, y = count(scene, SINGULAR[m[2]]), count(scene, SINGULAR[m[3]])
            truth = x > y if m[1] == "more" else x < y
        else:
            m = re.fullmatch(rf"Are there as many ({PLURAL_RE}) as ({PLURAL_RE})\?", q)
            assert m, q
            truth = count(scene, SINGULAR[m[1]]) == count(scene, SINGULAR[m[2]])
        assert a == ("yes" if truth else "no"), (q, a)
    elif r.question_type == "rural_urban":
        assert q == "Is it a rural or an urban area?"
        assert a == ("urban" if count(scene, "building") >= 3 else "rural")
    else:
        m = re.fullmatch(rf"What is the area covered by ({PLURAL_RE})\?", q)
        assert r.question_type == "area" and m, q
        metres = label_pixels(scene, SINGULAR[m[1]]) * 128 * 128 // (scene.size * scene.size)
        assert a == f"{metres}m2", (q, a)


def parse_expression(text: str) -> tuple[str | None, str, str | None]:
    m = re.fullmatch(rf"the (?:({COLOUR_RE}) )?({CATEGORY_RE})(?: ({PLACE_RE}))?", text)
    assert m, text
    return m[1], m[2], PHRASE_TO_POSITION.get(m[3]) if m[3] else None


def referents(scene: Scene, text: str) -> list:
    colour, category, position = parse_expression(text)
    return [
        o
        for o in scene.objects
        if o.category == category and colour in (None, o.colour) and position in (None, o.position)
    ]


def check_grounding(r: Record, scene: Scene) -> None:
    matches = referents(scene, r.text)
    assert len(matches) == 1, (r.text, matches)  # the expression picks out exactly one object
    assert matches[0].bbox == r.bbox and matches[0].category == r.category


def check_description(text: str, obj) -> None:
    """A region description names the object's category, colour (when it has several) and position."""
    m = re.fullmatch(rf"(?:A|An) (?:({COLOUR_RE}) )?({CATEGORY_RE}) (.*?)\.?", text)
    assert m and m[2] == obj.category, (text, obj)
    rest = m[3]
    places = [p for p in PHRASE_TO_POSITION if rest.endswith(p)]
    assert [PHRASE_TO_POSITION[p] for p in places] == [obj.position], (text, obj)
    colours = re.findall(rf"\b({COLOUR_RE})\b", text)
    if len(COLOURS[obj.category]) > 1:
        assert colours == [obj.colour], (text, obj)
    if obj.category == "road":
        assert f"running {obj.orientation}ly" in rest
    if obj.category == "vehicle":
        assert ("on the road" in rest) == obj.on_road and ("off the road" in rest) == (not obj.on_road)


def check_region(r: Record, scene: Scene) -> None:
    (obj,) = [o for o in scene.objects if o.bbox == r.bbox and o.category == r.category]
    check_description(r.text, obj)


def check_counts_in(text: str, scene: Scene) -> None:
    """Every '<number> [<colour>] <noun>' in a text states the true count."""
    for number, colour, noun in re.findall(rf"\b({'|'.join(NUMBERS)}) (?:({COLOUR_RE}) )?({NOUN_RE})\b", text):
        assert NUMBERS[number] == count(scene, noun_category(noun), colour or None), (text, number, noun)


def check_caption(r: Record, scene: Scene) -> None:
    assert 3 <= len(r.references) <= 5 and len(set(r.references)) == len(r.references)
    for ref in r.references:
        check_counts_in(ref, scene)
        for word in ("rural", "urban"):
            if word in ref:
                assert scene.rural_urban == word, ref
        for ground in ("grassland", "farmland", "bare soil", "forest"):
            if ground in ref.lower():
                assert scene.background == ground, ref
        roofs = re.search(rf"with (?:a |an )?((?:{COLOUR_RE})(?:(?:, | and )(?:{COLOUR_RE}))*) roofs?", ref)
        if roofs:
            named = set(re.findall(COLOUR_RE, roofs[1]))
            assert named == {o.colour for o in scene.objects if o.category == "building"}, ref
        lacking = re.search(rf"but no ((?:{PLURAL_RE})(?:(?:, | or )(?:{PLURAL_RE}))*)\.", ref)
        if lacking:
            assert all(count(scene, SINGULAR[p]) == 0 for p in re.findall(PLURAL_RE, lacking[1])), ref


def check_detail(r: Record, scene: Scene) -> None:
    assert [(o["category"], tuple(o["bbox"])) for o in r.objects] == [(o.category, o.bbox) for o in scene.objects]
    for item, obj in zip(r.objects, scene.objects):
        check_description(item["description"], obj)
    inventory = re.search(r"It contains (.*?)\.", r.text)
    present = [c for c in SINGULAR.values() if count(scene, c) and c not in scene.excluded]
    if present:
        check_counts_in(inventory[1], scene)
        assert {noun_category(n) for n in re.findall(NOUN_RE, inventory[1])} == set(present)
    absent = re.search(r"There are no (.*?)\.", r.text)
    missing = [c for c in SINGULAR.values() if not count(scene, c) and c not in scene.excluded]
    assert {SINGULAR[p] for p in re.findall(PLURAL_RE, absent[1])} == set(missing) if missing else absent is None
    assert f"{scene.rural_urban} area" in r.text and f"{scene.gsd_m:g} m per pixel" in r.text


def check_turn(r: Record, scene: Scene) -> None:
    q, a = r.question, r.answer
    if m := re.fullmatch(rf"How many ({PLURAL_RE}) can you see\?", q):
        said = re.fullmatch(rf"There (?:is|are) \w+ ({NOUN_RE})\.", a)
        assert said and noun_category(said[1]) == SINGULAR[m[1]], (q, a)
        check_counts_in(a, scene)
    elif m := re.fullmatch(rf"Is there (?:a|an) ({CATEGORY_RE}) in the image\?", q):
        n = count(scene, m[1])
        assert a.startswith("Yes, there") if n else a == f"No, there is no {m[1]}.", (q, a)
        check_counts_in(a, scene)
    elif m := re.fullmatch(r"What colour is (?:the roof of )?(.+)\?", q):
        (obj,) = referents(scene, m[1])
        assert a in (f"It is {obj.colour}.", f"The roof is {obj.colour}.")
        assert ("roof" in q) == (obj.category == "building")
    elif m := re.fullmatch(r"Where is (.+)\?", q):
        (obj,) = referents(scene, m[1])
        place = {v: k for k, v in PHRASE_TO_POSITION.items()}[obj.position]
        assert a == f"{m[1][0].upper()}{m[1][1:]} is {place} of the image.", (q, a)
    elif q == "What is the main land cover?":
        assert a == f"The main land cover is {scene.background}."
    else:
        assert q == "Is this a rural or an urban area?", q
        assert a.startswith(f"It is an {scene.rural_urban} area" if scene.rural_urban == "urban" else "It is a rural")
        check_counts_in(a, scene)


CHECKS = {
    "vqa": check_vqa,
    "grounding": check_grounding,
    "region_caption": check_region,
    "caption": check_caption,
    "detail": check_detail,
    "conversation": check_turn,
}


@pytest.mark.parametrize("task", SYNTHETIC_TASKS)
def test_every_item_is_true_at_64_px(sample, scenes, task):
    checked = 0
    for r in sample:
        index = index_of(r)
        if r.task == task and index in scenes:
            CHECKS[task](r, scenes[index])
            checked += 1
    assert checked >= 60


def test_every_item_is_true_at_256_px():
    records = list(synthetic_records(12, size=256, seed=1))
    scenes = {i: make_scene(scene_seed(1, i), 256) for i in range(12)}
    for r in records:
        assert (r.width, r.height) == (256, 256)
        CHECKS[r.task](r, scenes[index_of(r)])
    assert {r.task for r in records} == set(SYNTHETIC_TASKS)


def test_conversations_have_three_to_five_turns(sample):
    turns = Counter(index_of(r) for r in sample if r.task == "conversation")
    assert set(turns) == set(range(N_IMAGES))
    assert set(turns.values()) <= {3, 4, 5} and len(set(turns.values())) == 3
    firsts = [r for r in sample if r.task == "conversation" and r.question_id.endswith("-0")]
    assert all(r.question.startswith("How many") for r in firsts)


def test_grounding_covers_most_objects(sample, scenes):
    grounded = Counter(index_of(r) for r in sample if r.task == "grounding" and index_of(r) in scenes)
    objects = sum(len(s.objects) for s in scenes.values())
    assert sum(grounded.values()) >= 0.8 * objects


# ----------------------------------------------------------------------------------------------------------------
# Balance: presence and counting must be learnable, so answers may not be predictable from the question alone.


def test_answer_balance(sample):
    answers = defaultdict(Counter)
    presence_by_category = defaultdict(Counter)
    for r in sample:
        if r.task == "vqa":
            answers[r.question_type][r.answer] += 1
            if r.question_type == "presence":
                presence_by_category[re.search(CATEGORY_RE, r.question)[0]][r.answer] += 1

    def majority(counter: Counter) -> float:
        return counter.most_common(1)[0][1] / sum(counter.values())

    assert sum(answers["presence"].values()) >= 4 * N_IMAGES
    assert majority(answers["presence"]) <= 0.55
    assert len(presence_by_category) == 7
    assert all(majority(c) <= 0.62 for c in presence_by_category.values()), presence_by_category
    assert sum(answers["count"].values()) >= 3 * N_IMAGES
    assert majority(answers["count"]) <= 0.32
    assert set(answers["count"]) == {"0", "1", "2", "3", "4"}
    assert min(answers["count"].values()) / sum(answers["count"].values()) >= 0.04
    assert majority(answers["comp"]) <= 0.55
    assert majority(answers["rural_urban"]) <= 0.62
