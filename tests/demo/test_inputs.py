"""The demo's input handling without a server: uploads, prompts, answer boxes, dataset lookups, reports."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from rsgpt4v import prompts
from rsgpt4v.boxes import Box, encode, square_padding
from rsgpt4v.demo.ask import MAX_MEGAPIXELS, answer_boxes, ask_prompt, read_upload
from rsgpt4v.demo.compare import compare_reports, read_report
from rsgpt4v.demo.explore import ALL, DemoInputError, display_image
from rsgpt4v.images import storage_bytes


def _save(tmp_path, name, image, fmt):
    path = tmp_path / name
    image.save(path, format=fmt)
    return path


# ---- uploads -------------------------------------------------------------------------------------------------


def test_non_image_upload_is_refused_with_its_name(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    with pytest.raises(DemoInputError, match=r"notes\.png: cannot decode image.*Upload a JPEG, PNG, WebP or TIFF"):
        read_upload(path)


def test_empty_upload_is_refused(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(DemoInputError, match=r"empty\.jpg: the image file is empty"):
        read_upload(path)


def test_truncated_upload_is_refused(tmp_path):
    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(whole.getvalue()[:200])
    with pytest.raises(DemoInputError, match=r"cut\.png"):
        read_upload(path)


def test_rgb_upload_is_kept_pixel_for_pixel(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    up = read_upload(_save(tmp_path, "a.png", Image.fromarray(pixels), "PNG"))
    assert up.notes == []
    assert np.array_equal(np.asarray(up.image), pixels)


def test_16_bit_tiff_is_converted_by_the_build_rule(tmp_path):
    band = np.random.default_rng(2).integers(0, 4000, (24, 32), dtype=np.uint16)
    path = _save(tmp_path, "dem.tif", Image.fromarray(band), "TIFF")
    up = read_upload(path)
    assert len(up.notes) == 1 and "dem.tif (TIFF) was converted" in up.notes[0]
    expected = Image.open(io.BytesIO(storage_bytes(path.read_bytes()).data)).convert("RGB")
    assert np.array_equal(np.asarray(up.image), np.asarray(expected))
    grey = np.asarray(up.image)[..., 0].astype(float)
    lo, hi = np.percentile(band, [2, 98])
    assert np.allclose(grey, np.clip(np.round((band - lo) / (hi - lo) * 255), 0, 255))


def test_multi_band_tiff_is_converted_for_display(tmp_path):
    bands = np.random.default_rng(3).integers(0, 255, (20, 20, 4), dtype=np.uint8)
    path = _save(tmp_path, "rgbn.tif", Image.fromarray(bands, mode="RGBA"), "TIFF")
    up = read_upload(path)
    assert "rgbn.tif (TIFF) was converted" in up.notes[0]
    assert up.image.mode == "RGB" and up.image.size == (20, 20)
    assert np.array_equal(np.asarray(up.image), bands[..., :3])


def test_image_over_50_megapixels_is_downscaled_with_a_note(tmp_path):
    side = 7200  # 51.84 megapixels
    path = _save(tmp_path, "huge.png", Image.new("RGB", (side, side), (10, 120, 30)), "PNG")
    up = read_upload(path)
    assert up.image.width * up.image.height <= MAX_MEGAPIXELS * 1_000_000
    assert up.image.width > 7000 * 0.95 * (50 / 51.84) ** 0.5 * 0.99
    assert "huge.png has 51.8 megapixels (7200x7200)" in up.notes[0] and "downscaled" in up.notes[0]
    assert up.image.getpixel((5, 5)) == (10, 120, 30)


# ---- prompts -------------------------------------------------------------------------------------------------


def test_prompts_come_from_rsgpt4v_prompts():
    assert ask_prompt("caption", "ignored", 64, 64) == prompts.CAPTION_PROMPT
    assert ask_prompt("detail", None, 64, 64) == prompts.DETAIL_PROMPT
    assert ask_prompt("vqa", "  Is there a road? ", 64, 64) == prompts.instruction("vqa", question="Is there a road?")
    assert ask_prompt("grounding", "the red roof", 64, 64) == prompts.instruction(
        "grounding", expression="the red roof"
    )
    assert ask_prompt("conversation", "Hi", 64, 64) == "Hi"
    region = ask_prompt("region_caption", "[10, 20, 60, 80]", 200, 100)
    box = encode(Box(10, 20, 60, 80), "norm01", width=200, height=100)
    assert region == prompts.instruction("region_caption", box=box)
    assert "[0.05, 0.35, 0.30, 0.65]" in region  # padded to a 200 px square: y offset 50


@pytest.mark.parametrize("task", ["vqa", "grounding", "region_caption", "conversation"])
@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_question_is_refused(task, text):
    with pytest.raises(DemoInputError, match=f"the question is empty: the {task} task needs"):
        ask_prompt(task, text, 64, 64)


@pytest.mark.parametrize("region", ["[10, 20, 5, 80]", "10 20 60", "[0, 0, 500, 10]", "[1, 2, 3, 4], [5, 6, 7, 8]"])
def test_bad_region_is_refused_with_an_example(region):
    with pytest.raises(DemoInputError, match=r"region|exactly one region"):
        ask_prompt("region_caption", region, 64, 64)


def test_unknown_task_is_refused():
    with pytest.raises(DemoInputError, match="unknown task 'segment'"):
        ask_prompt("segment", "x", 64, 64)


# ---- answer boxes --------------------------------------------------------------------------------------------


def test_answer_boxes_are_read_by_the_codec_in_every_format():
    width, height = 200, 100
    found = answer_boxes(
        "plane [0.05, 0.35, 0.30, 0.65] and {<5><35><30><65>} and <box>(50,350),(300,650)</box>", width, height
    )
    assert found.notes == []
    assert [b for b, _ in found.boxes] == [[10.0, 20.0, 60.0, 80.0]] * 3
    assert [label for _, label in found.boxes] == ["box 1", "box 2", "box 3"]


def test_geochat_box_without_angle_keeps_its_four_coordinates():
    # GeoChat's demo drops the 4th integer when no angle follows; the codec keeps all four.
    found = answer_boxes("{<10><20><50><60>}", 100, 100)
    assert [b for b, _ in found.boxes] == [[10.0, 20.0, 50.0, 60.0]]


def test_malformed_boxes_become_notes_not_exceptions():
    found = answer_boxes("a box [0.1, 0.2, 0.3] and [0.5, 0.5, 0.4, 0.9] and [0.1, 0.1, 0.2, 0.2]", 64, 64)
    assert [b for b, _ in found.boxes] == [[6.4, 6.4, 12.8, 12.8]]
    assert len(found.notes) == 2
    assert "'[0.1, 0.2, 0.3]'" in found.notes[0] and "shown as text only" in found.notes[0]
    assert "'[0.5, 0.5, 0.4, 0.9]'" in found.notes[1]


def test_display_image_scales_boxes_with_the_image():
    image = Image.new("RGB", (2048, 1024))
    path, boxes = display_image(image, [([100.0, 50.0, 300.0, 250.0], "x")])
    assert Image.open(path).size == (1024, 512) and path.endswith(".webp")
    assert display_image(image, [])[0] == path
    assert boxes == [((50, 25, 150, 125), "x")]
    assert square_padding(2048, 1024).side == 2048


# ---- dataset lookups -----------------------------------------------------------------------------------------


def test_unknown_record_id_is_refused(explorer):
    with pytest.raises(DemoInputError, match=r"no record with id 'synthetic-999999-vqa-0' in vqa/test.*e\.g\."):
        explorer.find("vqa", "test", "synthetic-999999-vqa-0")
    with pytest.raises(DemoInputError, match="the record id is empty"):
        explorer.find("vqa", "test", "  ")


def test_record_found_by_question_id_and_row_id(explorer):
    entries = explorer.index("vqa", "test")
    target = entries[5]
    assert explorer.find("vqa", "test", target.question_id) == 5
    assert entries[explorer.find("vqa", "test", target.row_id)].row_id == target.row_id


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "synthetic/images/../../../etc/hosts", "~/x.png"])
def test_paths_outside_the_dataset_are_refused(explorer, ref):
    with pytest.raises(DemoInputError, match="files outside the dataset are never read"):
        explorer.locate_image(ref)


def test_dataset_image_found_by_its_path(explorer):
    entry = explorer.index("caption", "train")[2]
    config, split, position = explorer.locate_image(entry.image_path)
    assert explorer.index(config, split)[position].image_path == entry.image_path


def test_filters_select_by_source_and_question_type(explorer):
    types = explorer.question_types("vqa", "test")
    assert "presence" in types and "count" in types
    entries = explorer.index("vqa", "test")
    chosen = explorer.selection("vqa", "test", ALL, "count")
    assert chosen and all(entries[i].question_type == "count" for i in chosen)
    assert len(explorer.selection("vqa", "test", "synthetic", ALL)) == len(entries)
    with pytest.raises(DemoInputError, match="source 'rsicd' has no items in vqa/test"):
        explorer.selection("vqa", "test", "rsicd", ALL)
    with pytest.raises(DemoInputError, match="only the vqa config has question types"):
        explorer.selection("caption", "test", ALL, "count")


def test_grounding_record_draws_its_typed_box(explorer):
    entries = explorer.index("grounding", "test")
    shown = explorer.render("grounding", "test", 0)
    assert shown.fields["question_id"] == entries[0].question_id
    assert shown.boxes == [(tuple(int(round(v)) for v in shown.fields["bbox"]), shown.fields["category"])]
    assert shown.chat[0]["role"] == "user" and shown.chat[1]["role"] == "assistant"
    assert "image" not in shown.fields


def test_unknown_config_and_split_are_refused(explorer):
    with pytest.raises(DemoInputError, match="config 'instruct' is not in"):
        explorer.splits("instruct")
    with pytest.raises(DemoInputError, match="config 'vqa' has no split 'val'"):
        explorer.index("vqa", "val")


# ---- reports -------------------------------------------------------------------------------------------------


def test_two_reports_side_by_side(reports):
    a, b = (read_report(p) for p in reports)
    result = compare_reports([("a.json", a), ("b.json", b)])
    assert result.headers == ["config", "metric", "a.json", "b.json", "difference"]
    rows = {(r[0], r[1]): r[2:] for r in result.scores}
    overall = rows[("vqa", "overall")]
    assert overall[0] == 100.0 and overall[1] == round(100 * b["results"]["vqa"]["scores"]["overall"], 2)
    assert overall[2] == round(overall[1] - overall[0], 2) and overall[2] < 0
    assert rows[("grounding", "Acc@0.5")][0] == 100.0
    assert {r[1] for r in result.per_type} == set(a["results"]["vqa"]["per_type"])
    assert len(result.figure.axes) == 2


def test_one_report_has_no_difference_column(reports):
    result = compare_reports([("a.json", read_report(reports[0]))])
    assert result.headers == ["config", "metric", "a.json"]


def test_bad_report_files_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": ')
    with pytest.raises(DemoInputError, match=r"bad\.json is not valid JSON \(line 1"):
        read_report(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"scores": {"x": 1}}))
    with pytest.raises(DemoInputError, match=r"other\.json is JSON but not an rsgpt4v evaluation report"):
        read_report(other)
    binary = tmp_path / "image.json"
    binary.write_bytes(b"\x89PNG\xff\xfe")
    with pytest.raises(DemoInputError, match="not a text file|not valid JSON"):
        read_report(binary)
