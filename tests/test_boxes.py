"""Tests of the box codec: exact hand-computed values, every failure path, and round trips (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsgpt4v.boxes import (
    Box,
    BoxFailure,
    BoxFormat,
    BoxParseError,
    SquarePadding,
    encode,
    find_boxes,
    parse,
    square_padding,
)

# A landscape image: padded to a 640 square, the image sits 80 px below the top (640 - 480) // 2.
W, H = 640, 480
BOX = Box(64.0, 40.0, 320.0, 240.0)


# --- square padding -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (640, 480, SquarePadding(640, 0, 80)),
        (480, 640, SquarePadding(640, 80, 0)),
        (101, 50, SquarePadding(101, 0, 25)),  # odd difference 51: the extra pixel of padding goes to the bottom
        (50, 101, SquarePadding(101, 25, 0)),
        (800, 800, SquarePadding(800, 0, 0)),
        (1, 3, SquarePadding(3, 1, 0)),
    ],
)
def test_square_padding_follows_expand2square(width, height, expected):
    assert square_padding(width, height) == expected


def test_square_padding_accepts_numpy_integers():
    assert square_padding(np.int64(640), np.int32(480)) == SquarePadding(640, 0, 80)


@pytest.mark.parametrize(
    ("width", "height", "bad"),
    [(0, 10, "0"), (10, -1, "-1"), (10.5, 10, "10.5"), (True, 10, "True"), ("64", 48, "'64'")],
)
def test_bad_image_size_is_rejected_with_the_value(width, height, bad):
    with pytest.raises(ValueError, match="positive integer") as info:
        square_padding(width, height)
    assert str(info.value).endswith(f"got {bad}.")
    with pytest.raises(ValueError, match="positive integer"):
        encode(BOX, "norm01", width=width, height=height)
    with pytest.raises(ValueError, match="positive integer"):
        parse("[0.1, 0.1, 0.2, 0.2]", "norm01", width, height)
    with pytest.raises(ValueError, match="positive integer"):
        find_boxes("", width, height)


# --- encode: exact values -------------------------------------------------------------------------------------------
# Padded: x / 640, (y + 80) / 640.  x1 = 0.1, y1 = 120 / 640 = 0.1875, x2 = 0.5, y2 = 320 / 640 = 0.5.
# Unpadded: x / 640, y / 480.        y1 = 40 / 480 = 0.0833..., y2 = 0.5.


@pytest.mark.parametrize(
    ("fmt", "pad", "expected"),
    [
        ("pixel", True, "[64.0, 40.0, 320.0, 240.0]"),
        ("pixel", False, "[64.0, 40.0, 320.0, 240.0]"),
        ("norm01", True, "[0.10, 0.19, 0.50, 0.50]"),
        ("norm01", False, "[0.10, 0.08, 0.50, 0.50]"),
        ("grid100", True, "{<10><19><50><50>}"),
        ("grid100", False, "{<10><8><50><50>}"),
        ("grid1000", True, "<box>(100,188),(500,500)</box>"),
        ("grid1000", False, "<box>(100,83),(500,500)</box>"),
    ],
)
def test_encode_exact_values_on_a_non_square_image(fmt, pad, expected):
    assert encode(BOX, fmt, width=W, height=H, pad_to_square=pad) == expected


def test_encode_portrait_image_pads_left_and_right():
    # 480 x 640: the image sits 80 px right of the square's left edge.
    assert encode(Box(40, 64, 240, 320), "norm01", width=480, height=640) == "[0.19, 0.10, 0.50, 0.50]"


def test_encode_rounds_half_up():
    # 0.125 * 100 = 12.5 -> 13, 0.375 * 100 = 37.5 -> 38 (not to even).
    assert encode(Box(100, 100, 300, 300), "grid100", width=800, height=800) == "{<13><13><38><38>}"


def test_encode_pixel_keeps_at_most_two_decimals():
    assert encode(Box(12.0, 30.5, 60.004, 80.126), "pixel", width=100, height=100) == "[12.0, 30.5, 60.0, 80.13]"


def test_encode_norm01_trim_zeros_matches_llava_mixture_spelling():
    box = Box(0, 0, 320, 640)
    assert encode(box, "norm01", width=640, height=640) == "[0.00, 0.00, 0.50, 1.00]"
    assert encode(box, "norm01", width=640, height=640, trim_zeros=True) == "[0.0, 0.0, 0.5, 1.0]"
    assert encode(BOX, "norm01", width=W, height=H, trim_zeros=True) == "[0.1, 0.19, 0.5, 0.5]"


def test_encode_angle_in_grid100_and_rounded_to_degrees():
    rotated = Box(64, 40, 320, 240, angle=29.6)
    assert encode(rotated, "grid100", width=W, height=H) == "{<10><19><50><50>|<30>}"
    assert encode(Box(64, 40, 320, 240, angle=0), "grid100", width=W, height=H) == "{<10><19><50><50>|<0>}"
    # a zero angle is a horizontal box, which every format can write
    assert encode(Box(64, 40, 320, 240, angle=0), "norm01", width=W, height=H) == "[0.10, 0.19, 0.50, 0.50]"


def test_encode_several_boxes_and_input_forms():
    second = Box(320, 240, 640, 480)
    assert encode([BOX, second], "norm01", width=W, height=H) == "[0.10, 0.19, 0.50, 0.50], [0.50, 0.50, 1.00, 0.88]"
    assert encode([BOX, second], "grid100", width=W, height=H) == "{<10><19><50><50>}{<50><50><100><88>}"
    assert encode([BOX, second], "grid1000", width=W, height=H) == (
        "<box>(100,188),(500,500)</box><box>(500,500),(1000,875)</box>"
    )
    assert encode([64, 40, 320, 240], "grid100", width=W, height=H) == "{<10><19><50><50>}"
    assert encode(np.array([64.0, 40, 320, 240]), "grid100", width=W, height=H) == "{<10><19><50><50>}"
    assert encode(np.array([[64.0, 40, 320, 240], [320, 240, 640, 480]]), "grid100", width=W, height=H) == (
        "{<10><19><50><50>}{<50><50><100><88>}"
    )
    assert encode([(64, 40, 320, 240), BOX], BoxFormat.GRID100, width=W, height=H) == (
        "{<10><19><50><50>}{<10><19><50><50>}"
    )


def test_encode_never_writes_a_degenerate_box():
    # 10 / 800 * 100 = 1.25 and 10.5 / 800 * 100 = 1.31 both round to 1: widened to one step.
    assert encode(Box(10, 10, 10.5, 10.5), "grid100", width=800, height=800) == "{<1><1><2><2>}"
    # at the far edge the box grows towards the inside
    assert encode(Box(799.5, 799.5, 800, 800), "grid100", width=800, height=800) == "{<99><99><100><100>}"
    assert encode(Box(1.0, 1.0, 1.001, 1.001), "pixel", width=10, height=10) == "[1.0, 1.0, 1.01, 1.01]"


@pytest.mark.parametrize(
    ("box", "match"),
    [
        (Box(10, 10, 10, 20), "degenerate"),
        (Box(10, 20, 30, 5), "degenerate"),
        (Box(-1, 10, 30, 20), "outside the 640x480 image"),
        (Box(10, 10, 641, 20), "outside the 640x480 image"),
        (Box(10, 10, 30, 480.5), "outside the 640x480 image"),
        (Box(float("nan"), 10, 30, 20), "non-finite"),
        (Box(10, 10, 30, float("inf")), "non-finite"),
        (Box(10, 10, 30, 20, angle=15), "cannot carry"),
        (Box(10, 10, 30, 20, angle=float("nan")), "angle"),
    ],
)
def test_encode_rejects_bad_boxes_naming_the_box(box, match):
    with pytest.raises(ValueError, match=match) as info:
        encode(box, "norm01", width=W, height=H)
    assert str(box) in str(info.value)


def test_encode_rejects_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        encode([], "norm01", width=W, height=H)
    with pytest.raises(ValueError, match="4 numbers"):
        encode([(1, 2, 3)], "norm01", width=W, height=H)
    with pytest.raises(ValueError, match="4 numbers"):
        encode([5], "norm01", width=W, height=H)
    with pytest.raises(ValueError, match="Unknown box format 'xywh'"):
        encode(BOX, "xywh", width=W, height=H)
    with pytest.raises(ValueError, match="trim_zeros"):
        encode(BOX, "grid100", width=W, height=H, trim_zeros=True)
    with pytest.raises(ValueError, match=r"\[-360, 360\]"):
        encode(Box(10, 10, 30, 20, angle=400), "grid100", width=W, height=H)


# --- parse: exact values --------------------------------------------------------------------------------------------


def test_parse_exact_values_undo_the_padding():
    # y1 = 0.19 * 640 - 80 = 41.6; y = 0.5 * 640 - 80 = 240.
    (box,) = parse("[0.10, 0.19, 0.50, 0.50]", "norm01", W, H)
    assert box.as_list() == pytest.approx([64.0, 41.6, 320.0, 240.0])
    (box,) = parse("[0.10, 0.08, 0.50, 0.50]", "norm01", W, H, pad_to_square=False)
    assert box.as_list() == pytest.approx([64.0, 38.4, 320.0, 240.0])
    (box,) = parse("<box>(100,188),(500,500)</box>", "grid1000", W, H)
    assert box.as_list() == pytest.approx([64.0, 40.32, 320.0, 240.0])
    (box,) = parse("[64.0, 40.0, 320.0, 240.0]", "pixel", W, H)
    assert box == Box(64.0, 40.0, 320.0, 240.0)


def test_parse_accepts_any_decimal_form():
    expected = parse("[0.10, 0.19, 0.50, 0.50]", "norm01", W, H)
    assert parse("[.1, 0.190, 0.5, .50]", "norm01", W, H) == expected
    assert parse("  [0.1,0.19,0.5,0.5]\n", "norm01", W, H) == expected
    # 1 and 0 as integers; the padding part of the square is clipped off
    assert parse("[0, 0, 1, 1]", "norm01", W, H) == [Box(0.0, 0.0, 640.0, 480.0)]


def test_parse_grid100_several_boxes_with_and_without_angles():
    boxes = parse("{<10><20><30><40>|<0>}{<50><50><60><70>|<90>}{< 1 ><2><3><4>}", "grid100", 800, 800)
    assert boxes == [
        Box(80.0, 160.0, 240.0, 320.0, 0.0),
        Box(400.0, 400.0, 480.0, 560.0, 90.0),
        Box(8.0, 16.0, 24.0, 32.0, None),
    ]


def test_parse_grid1000_with_ref_and_separators():
    text = "<ref>the plane</ref><box>(0,0),(500,1000)</box> <box>( 500 , 0 ),( 1000 , 500 )</box>"
    assert parse(text, "grid1000", 1000, 1000) == [Box(0.0, 0.0, 500.0, 1000.0), Box(500.0, 0.0, 1000.0, 500.0)]
    assert parse("[0.1, 0.1, 0.2, 0.2]; [0.3, 0.3, 0.4, 0.4]", "norm01", 100, 100) == [
        Box(10.0, 10.0, 20.0, 20.0),
        Box(30.0, 30.0, 40.0, 40.0),
    ]


# --- parse: every failure path --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt", "offset", "reason"),
    [
        ("", "norm01", 0, "no box found"),
        ("   ", "grid100", 3, "no box found"),
        ("[0.1, 0.2, 0.3]", "norm01", 0, "expected 4 numbers [x1, y1, x2, y2], found 3"),
        ("[0.1, 0.2, 0.3, 0.4, 0.5]", "norm01", 0, "found 5"),
        ("[0.1, 0.2, abc, 0.4]", "norm01", 0, "not a number: 'abc'"),
        ("[0.1 0.2 0.3 0.4]", "norm01", 0, "not a number"),
        ("[0.1, 0.2, 1.5, 0.4]", "norm01", 0, "x2 = 1.5 is outside [0, 1]"),
        ("[-0.1, 0.2, 0.5, 0.4]", "norm01", 0, "x1 = -0.1 is outside [0, 1]"),
        ("[0.5, 0.2, 0.3, 0.4]", "norm01", 0, "degenerate box"),
        ("[0.1, 0.4, 0.3, 0.4]", "norm01", 0, "degenerate box"),
        ("[0.1, 0.0, 0.5, 0.1]", "norm01", 0, "in the square padding"),  # y in [0, 64] px of the square; pad is 80
        ("[0.1, 0.2, 0.3, 0.4", "norm01", 0, "missing ']'"),
        ("[0.1, 0.2, 0.3, 0.4] and more", "norm01", 21, "expected a box such as"),
        ("The box is [0.1, 0.2, 0.3, 0.4]", "norm01", 0, "expected a box such as"),
        ("[0.1, 0.2, 0.3, 0.4],", "norm01", 20, "separator after the last box"),
        ("[0.1, 0.2, 0.3, 0.4], ,[0.1, 0.2, 0.3, 0.4]", "norm01", 22, "expected a box"),
        ("[10, 20, 700, 40]", "pixel", 0, "x2 = 700 is outside the 640x480 image"),
        ("{<10><20><30>}", "grid100", 0, "expected 4 values <x1><y1><x2><y2>, found 3"),
        ("{<10><20><30.5><40>}", "grid100", 0, "not an integer: '30.5'"),
        ("{<10><20><130><40>}", "grid100", 0, "x2 = 130 is outside [0, 100]"),
        ("{<10><20><30><40>|<x>}", "grid100", 0, "malformed angle"),
        ("{<10><20><30><40>|<400>}", "grid100", 0, "angle 400 is outside"),
        ("{<10><20> junk <30><40>}", "grid100", 0, "unexpected text"),
        ("{<10><20><30><40>", "grid100", 0, "missing '}'"),
        ("{<10><20><30><40>}x", "grid100", 18, "expected a box"),
        ("<box>(1,2,3),(4,5)</box>", "grid1000", 0, "malformed box"),
        ("<box>(1.5,2),(400,500)</box>", "grid1000", 0, "not an integer: '1.5'"),
        ("<box>(100,200),(1200,500)</box>", "grid1000", 0, "x2 = 1200 is outside [0, 1000]"),
        ("<box>(100,200),(300,500)", "grid1000", 0, "missing '</box>'"),
        ("<ref>plane</ref>", "grid1000", 0, "expected a box"),
    ],
)
def test_parse_failure_says_where_and_what(text, fmt, offset, reason):
    with pytest.raises(BoxParseError) as info:
        parse(text, fmt, W, H)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.fmt is BoxFormat(fmt)
    assert error.offset == offset
    assert reason in error.reason
    assert f"at character {offset}" in str(error)
    assert error.text == "" or error.text in text


def test_parse_rejects_unknown_format():
    with pytest.raises(ValueError, match="Unknown box format 'bogus'; expected one of pixel, norm01"):
        parse("[0.1, 0.2, 0.3, 0.4]", "bogus", W, H)


# --- find_boxes -----------------------------------------------------------------------------------------------------


def test_find_boxes_returns_boxes_and_failures_in_text_order():
    text = (
        "Here: <ref>tank</ref><box>(100,200),(300,400)</box>, also [0.1, 0.2, 0.3] and "
        "{<10><20><30><40>|<5>}{<50><50><40><70>} [refer] [0.25, 0.25, 0.5, 0.5] end [0.5,0.5,0.6"
    )
    found = find_boxes(text, 800, 800)
    assert found.boxes == [
        Box(80.0, 160.0, 240.0, 320.0),
        Box(80.0, 160.0, 240.0, 320.0, 5.0),
        Box(200.0, 200.0, 400.0, 400.0),
    ]
    assert [(f.fmt, f.text, f.reason) for f in found.failures] == [
        (BoxFormat.NORM01, "[0.1, 0.2, 0.3]", "expected 4 numbers [x1, y1, x2, y2], found 3"),
        (
            BoxFormat.GRID100,
            "{<50><50><40><70>}",
            "degenerate box: needs x2 > x1 and y2 > y1, got x1=50, y1=50, x2=40, y2=70",
        ),
        (BoxFormat.NORM01, "[0.5,0.5,0.6", "unterminated box: missing ']'"),
    ]
    for failure in found.failures:
        assert isinstance(failure, BoxFailure)
        assert text[failure.start : failure.end] == failure.text


def test_find_boxes_restricted_to_given_formats():
    text = "[0.1, 0.1, 0.2, 0.2] {<10><10><20><20>} <box>(100,100),(200,200)</box>"
    assert find_boxes(text, 100, 100, fmts=["grid100"]).boxes == [Box(10.0, 10.0, 20.0, 20.0)]
    assert find_boxes(text, 100, 100, fmts=[BoxFormat.GRID1000, "grid1000"]).boxes == [Box(10.0, 10.0, 20.0, 20.0)]
    pixel = find_boxes("[10, 10, 20.5, 20] and [10, 10, 5, 20]", 100, 100, fmts=["pixel"])
    assert pixel.boxes == [Box(10.0, 10.0, 20.5, 20.0)]
    assert pixel.failures[0].reason.startswith("degenerate box")
    assert find_boxes("no boxes here [INST] {not} <b>", 100, 100) == find_boxes("", 100, 100)
    assert find_boxes("", 100, 100).boxes == [] and find_boxes("", 100, 100).failures == []


def test_find_boxes_out_of_range_and_padding_failures():
    found = find_boxes("[12, 30, 60, 80] <box>(0,0),(1000,100)</box>", W, H)
    assert found.boxes == []
    assert [f.reason for f in found.failures] == [
        "x1 = 12 is outside [0, 1]",
        "box lies in the square padding, outside the 640x480 image",
    ]


def test_find_boxes_rejects_pixel_with_norm01():
    with pytest.raises(ValueError, match="both pixel and norm01"):
        find_boxes("[1, 2, 3, 4]", 10, 10, fmts=["pixel", "norm01"])
    with pytest.raises(ValueError, match="Unknown box format"):
        find_boxes("[1, 2, 3, 4]", 10, 10, fmts=["xyxy"])


# --- round trips (hypothesis) ---------------------------------------------------------------------------------------


@st.composite
def images_and_boxes(draw):
    width = draw(st.integers(1, 2000))
    height = draw(st.integers(1, 2000))
    x1 = draw(st.floats(0, width, allow_nan=False, exclude_max=True))
    x2 = draw(st.floats(x1, width, allow_nan=False, exclude_min=True))
    y1 = draw(st.floats(0, height, allow_nan=False, exclude_max=True))
    y2 = draw(st.floats(y1, height, allow_nan=False, exclude_min=True))
    angle = draw(st.one_of(st.none(), st.integers(-90, 90).map(float)))
    return width, height, Box(x1, y1, x2, y2, angle)


def _step_px(fmt: BoxFormat, width: int, height: int, pad: bool) -> tuple[float, float]:
    """One quantisation step of the format, in pixels, along x and y."""
    if fmt is BoxFormat.PIXEL:
        return 0.01, 0.01
    steps = 1000 if fmt is BoxFormat.GRID1000 else 100
    side = max(width, height)
    return (side / steps, side / steps) if pad else (width / steps, height / steps)


@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize("fmt", list(BoxFormat))
@settings(max_examples=100, deadline=None)
@given(case=images_and_boxes())
def test_round_trip_within_quantisation(fmt, pad, case):
    width, height, box = case
    if fmt is not BoxFormat.GRID100:
        box = Box(box.x1, box.y1, box.x2, box.y2)
    text = encode(box, fmt, width=width, height=height, pad_to_square=pad)
    (back,) = parse(text, fmt, width, height, pad_to_square=pad)
    step_x, step_y = _step_px(fmt, width, height, pad)
    eps = 1e-6 * max(width, height)
    for a, b, step, side in (
        (box.x1, back.x1, step_x, box.x2 - box.x1),
        (box.x2, back.x2, step_x, box.x2 - box.x1),
        (box.y1, back.y1, step_y, box.y2 - box.y1),
        (box.y2, back.y2, step_y, box.y2 - box.y1),
    ):
        # half a step; where a box narrower than one step was widened to one step, half a step more than that
        bound = step / 2 if side >= step else 1.5 * step
        assert abs(a - b) <= bound + eps
    assert 0 <= back.x1 < back.x2 <= width and 0 <= back.y1 < back.y2 <= height
    assert back.angle == (None if box.angle is None else float(box.angle))
    # the text is canonical: writing the parsed box again gives the same text
    assert encode(back, fmt, width=width, height=height, pad_to_square=pad) == text
    # and the lenient reader finds exactly that box
    lenient_fmts = [fmt]
    assert find_boxes(f"answer: {text}.", width, height, fmts=lenient_fmts, pad_to_square=pad).boxes == [back]


@settings(max_examples=100, deadline=None)
@given(case=images_and_boxes())
def test_norm01_error_is_at_most_half_a_percent_of_the_square(case):
    width, height, box = case
    box = Box(box.x1, box.y1, box.x2, box.y2)
    (back,) = parse(encode(box, "norm01", width=width, height=height), "norm01", width, height)
    side = max(width, height)
    if box.x2 - box.x1 >= 0.01 * side and box.y2 - box.y1 >= 0.01 * side:
        errors = [abs(a - b) for a, b in zip(box.as_list(), back.as_list())]
        assert max(errors) <= 0.005 * side + 1e-6 * side


@settings(max_examples=100, deadline=None)
@given(
    width=st.integers(1, 1000),
    height=st.integers(1, 1000),
    values=st.lists(st.integers(0, 100), min_size=4, max_size=4),
)
def test_find_boxes_never_raises_on_grid_text(width, height, values):
    text = "{" + "".join(f"<{v}>" for v in values) + "}"
    found = find_boxes(text, width, height)
    assert len(found.boxes) + len(found.failures) == 1
