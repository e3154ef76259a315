from __future__ import annotations

import pytest
from source_fixtures import fixture_module, generated

from rsgpt4v.schema import Record, Rejection
from rsgpt4v.sources import DIORRSVG
from rsgpt4v.sources.base import SourceFormatError, SourceNotFoundError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generated(tmp_path_factory, "dior_rsvg", "DIOR_RSVG")


@pytest.fixture
def fresh(tmp_path):
    fixture_module("dior_rsvg").generate(tmp_path)
    return tmp_path


def _records(items):
    return [(r.task, r.question_id, r.image_path, r.category, r.bbox, r.text) for r in items if isinstance(r, Record)]


def test_expression_indices_run_over_every_object_in_sorted_files(root):
    objects = fixture_module("dior_rsvg").OBJECTS
    flat = [(stem, obj) for stem in sorted(objects) for obj in objects[stem]]
    for split, indices in fixture_module("dior_rsvg").SPLITS.items():
        records = _records(DIORRSVG().items(root, split))
        expected = []
        for i in indices:
            stem, (name, box, text) = flat[i]
            if text and box[2] > box[0] and box[2] <= 800:
                for task in ("grounding", "region_caption"):
                    expected.append((task, f"dior_rsvg/{i}", f"DIOR-RSVG/JPEGImages/{stem}.jpg", name, box, text))
        assert records == expected


def test_grounding_and_region_caption_records_are_valid(root):
    items = [r for s in DIORRSVG.splits for r in DIORRSVG().items(root, s) if isinstance(r, Record)]
    for record in items:
        record.validate()
        assert (record.width, record.height) == (800, 800)
    assert "Expressway-Service-area" in {r.category for r in items}


def test_bad_expressions_are_rejected_once_per_task(root):
    rejected = [
        (r.key, r.task, r.reason)
        for s in DIORRSVG.splits
        for r in DIORRSVG().items(root, s)
        if isinstance(r, Rejection)
    ]
    assert rejected == [
        ("expression 4", "grounding", "empty description"),
        ("expression 4", "region_caption", "empty description"),
        (
            "expression 5",
            "grounding",
            "degenerate box [200.0, 100.0, 200.0, 180.0]: needs xmax > xmin and ymax > ymin",
        ),
        (
            "expression 5",
            "region_caption",
            "degenerate box [200.0, 100.0, 200.0, 180.0]: needs xmax > xmin and ymax > ymin",
        ),
        ("expression 6", "grounding", "box [700.0, 700.0, 820.0, 760.0] lies outside the 800x800 image"),
        ("expression 6", "region_caption", "box [700.0, 700.0, 820.0, 760.0] lies outside the 800x800 image"),
    ]


def test_missing_image_rejects_all_its_expressions(fresh):
    (fresh / "JPEGImages" / "00003.jpg").unlink()
    items = list(DIORRSVG().items(fresh, "train"))
    first = items[:2]
    assert all(isinstance(r, Rejection) and r.key == "expression 0" for r in first)
    assert first[0].reason.startswith("image file not found") and first[0].reason == first[1].reason


def test_description_read_by_position_when_the_tag_differs(fresh):
    path = fresh / "Annotations" / "00007.xml"
    path.write_text(path.read_text().replace("description>", "desc>"))
    (record, _) = [
        r for r in DIORRSVG().items(fresh, "train") if isinstance(r, Record) and r.question_id == "dior_rsvg/2"
    ]
    assert record.text == "The dam is on the lower right of the slender gray bridge"


def test_malformed_xml_names_file_and_line(fresh):
    path = fresh / "Annotations" / "00007.xml"
    path.write_text(path.read_text().replace("</bndbox>", "</bnbox>"))
    with pytest.raises(SourceFormatError, match=r"00007\.xml: malformed XML at line 20, column \d+"):
        list(DIORRSVG().items(fresh, "test"))


def test_bad_split_file_and_missing_split_file(fresh):
    (fresh / "val.txt").write_text("1\nsix\n")
    with pytest.raises(SourceFormatError, match=r"val\.txt, line 2: 'six' is not an expression index"):
        list(DIORRSVG().items(fresh, "val"))
    (fresh / "test.txt").unlink()
    with pytest.raises(SourceNotFoundError, match=r"the test split file \('test\.txt'\)"):
        list(DIORRSVG().items(fresh, "test"))
