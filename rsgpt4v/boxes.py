"""One box codec: pixel xyxy <-> the box text that vision-language models read and write.

A box is stored once, as continuous pixel ``xyxy`` of the original image (:class:`Box`); text is produced from it
with :func:`encode` and read back with :func:`parse` (strict) or :func:`find_boxes` (lenient). Four text forms:

* ``pixel``: ``[12.0, 30.5, 60.0, 80.0]``, pixel coordinates of the original image, at most two decimals.
* ``norm01``: ``[0.10, 0.19, 0.50, 0.50]``, LLaVA-1.5's form: fractions in [0, 1] with two decimals.
* ``grid100``: ``{<10><19><50><50>|<30>}``, GeoChat's form: integers 0..100, optional angle in degrees; several
  boxes are written back to back.
* ``grid1000``: ``<box>(100,188),(500,500)</box>``, Qwen-VL's form: integers 0..1000, optionally preceded by
  ``<ref>...</ref>``.

The three normalised forms are relative to the image padded to a square (``pad_to_square=True``, the default), as
LLaVA-1.5's ``image_aspect_ratio="pad"`` shows it to the model: the side is ``S = max(width, height)`` and the
image sits at ``((S - width) // 2, (S - height) // 2)`` (:func:`square_padding`). With ``pad_to_square=False``
x is relative to the width and y to the height. See ``docs/boxes_and_prompts.md`` for the sources of each rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from numbers import Integral, Real

__all__ = [
    "Box",
    "BoxFailure",
    "BoxFormat",
    "BoxParseError",
    "FoundBoxes",
    "SquarePadding",
    "encode",
    "find_boxes",
    "parse",
    "square_padding",
]


class BoxFormat(str, Enum):
    """The text forms of a box (see the module docstring)."""

    PIXEL = "pixel"
    NORM01 = "norm01"
    GRID100 = "grid100"
    GRID1000 = "grid1000"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in continuous pixel ``xyxy`` of the original image (no +1 convention).

    Args:
        x1: left edge in pixels.
        y1: top edge in pixels.
        x2: right edge in pixels (``x2 > x1`` for a valid box).
        y2: bottom edge in pixels (``y2 > y1`` for a valid box).
        angle: rotation in degrees of the box about its centre, as GeoChat's ``|<θ>`` carries it; ``None`` for a
            horizontal box. Only ``grid100`` text can carry an angle; it is passed through, never interpreted.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    angle: float | None = None

    def as_list(self) -> list[float]:
        """Return ``[x1, y1, x2, y2]`` (the schema's ``bbox`` column)."""
        return [self.x1, self.y1, self.x2, self.y2]


@dataclass(frozen=True)
class SquarePadding:
    """Where an image sits inside the square it is padded to (LLaVA-1.5's ``expand2square``).

    Attributes:
        side: the square's side in pixels, ``max(width, height)``.
        left: pixels of padding left of the image, ``(side - width) // 2``.
        top: pixels of padding above the image, ``(side - height) // 2``.
    """

    side: int
    left: int
    top: int


@dataclass(frozen=True)
class BoxFailure:
    """A piece of text that looks like a box of ``fmt`` but is not a valid one.

    Attributes:
        fmt: the format the text was read as.
        start: character offset of the text in the searched string.
        end: offset one past its end.
        text: the offending text.
        reason: what is wrong with it.
    """

    fmt: BoxFormat
    start: int
    end: int
    text: str
    reason: str


@dataclass(frozen=True)
class FoundBoxes:
    """The result of :func:`find_boxes`: valid boxes and failures, each in the order they occur in the text."""

    boxes: list[Box]
    failures: list[BoxFailure]


class BoxParseError(ValueError):
    """Box text that :func:`parse` cannot read; says where (character offset) and what is wrong.

    Attributes:
        fmt: the format the text was read as.
        offset: character offset of the offending text.
        text: the offending text.
        reason: what is wrong with it.
    """

    def __init__(self, fmt: BoxFormat, offset: int, text: str, reason: str) -> None:
        self.fmt = fmt
        self.offset = offset
        self.text = text
        self.reason = reason
        super().__init__(f"cannot parse {fmt.value} box text at character {offset}: {reason} (text: {text!r})")


def square_padding(width: int, height: int) -> SquarePadding:
    """Return the square an image is padded to and its offsets inside it (one rule for both directions).

    The rule is LLaVA-1.5's ``expand2square``: side ``S = max(width, height)``, the image pasted at
    ``((S - width) // 2, (S - height) // 2)``; when the difference is odd the extra pixel of padding goes to the
    right or the bottom.

    Args:
        width: image width in pixels (positive integer).
        height: image height in pixels (positive integer).

    Raises:
        ValueError: if ``width`` or ``height`` is not a positive integer.

    >>> square_padding(640, 480)
    SquarePadding(side=640, left=0, top=80)
    """
    width, height = _check_size(width, height)
    side = max(width, height)
    return SquarePadding(side=side, left=(side - width) // 2, top=(side - height) // 2)


def encode(
    boxes: Box | Sequence[float] | Iterable[Box | Sequence[float]],
    fmt: BoxFormat | str = BoxFormat.NORM01,
    *,
    width: int,
    height: int,
    pad_to_square: bool = True,
    trim_zeros: bool = False,
) -> str:
    """Write boxes as text in one format.

    Values are rounded to the format's step (half up) and clamped to its range. A box narrower than one step is
    widened to one step (towards its centre's side) so that the text never holds a degenerate box.

    Args:
        boxes: one :class:`Box`, one ``[x1, y1, x2, y2]`` in pixels, or a list of either.
        fmt: the text form (:class:`BoxFormat` or its value).
        width: image width in pixels.
        height: image height in pixels.
        pad_to_square: normalise to the image padded to a square (LLaVA-1.5 ``pad``); ignored by ``pixel``.
        trim_zeros: ``norm01`` only: write the shortest form of each two-decimal value (``0.4``, ``0.0``,
            ``1.0``), as LLaVA-1.5's released mixture (llava_v1_5_mix665k) spells it, instead of always two
            decimals (``0.40``).

    Returns:
        The text; several boxes are joined by ``", "`` (``pixel``, ``norm01``) or written back to back
        (``grid100``, ``grid1000``).

    Raises:
        ValueError: for a bad image size, no boxes, a non-finite, degenerate (``x2 <= x1`` or ``y2 <= y1``) or
            out-of-image box, an angle in a format that cannot carry one, or ``trim_zeros`` outside ``norm01``.

    >>> encode(Box(64, 40, 320, 240), "norm01", width=640, height=480)
    '[0.10, 0.19, 0.50, 0.50]'
    """
    fmt = _as_format(fmt)
    width, height = _check_size(width, height)
    if trim_zeros and fmt is not BoxFormat.NORM01:
        raise ValueError(f"`trim_zeros=True` only applies to norm01 text, not {fmt.value}.")
    items = _as_boxes(boxes)
    if not items:
        raise ValueError("`boxes` is empty: there is nothing to encode.")
    for box in items:
        _check_box(box, width, height, fmt)
    texts = [_encode_one(box, fmt, width, height, pad_to_square, trim_zeros) for box in items]
    return ", ".join(texts) if fmt in (BoxFormat.PIXEL, BoxFormat.NORM01) else "".join(texts)


def parse(text: str, fmt: BoxFormat | str, width: int, height: int, pad_to_square: bool = True) -> list[Box]:
    """Read text that consists only of one or more boxes of one format (strict).

    Surrounding whitespace is allowed, and between boxes whitespace with at most one ``,`` or ``;``. Values
    may be written in any decimal form in ``pixel``/``norm01`` (``0.6``, ``.60``, ``1``, ``0.600``) and must
    lie in the format's range. Boxes are mapped back to pixel ``xyxy`` of the original image (the square
    padding removed) and clipped to it.

    Args:
        text: the box text, e.g. a model's answer to a grounding prompt.
        fmt: the text form (:class:`BoxFormat` or its value).
        width: image width in pixels.
        height: image height in pixels.
        pad_to_square: the text is relative to the padded square (must match how it was written).

    Returns:
        The boxes in text order.

    Raises:
        BoxParseError: at the first character that is not a valid box or separator; names the offset, the
            offending text and the reason (wrong number of values, not a number, out of range, degenerate, in the
            padding).
        ValueError: for a bad image size or an unknown format.
    """
    fmt = _as_format(fmt)
    width, height = _check_size(width, height)
    pattern = _CANDIDATES[fmt]
    boxes: list[Box] = []
    pos = _skip_space(text, 0)
    if pos == len(text):
        raise BoxParseError(fmt, pos, text, f"no box found; expected text such as {_EXAMPLES[fmt]!r}")
    while pos < len(text):
        match = pattern.match(text, pos)
        if match is None:
            raise BoxParseError(fmt, pos, text[pos : pos + 40], f"expected a box such as {_EXAMPLES[fmt]!r}")
        box, reason = _decode(fmt, match, width, height, pad_to_square)
        if box is None:
            raise BoxParseError(fmt, match.start(), match.group(0), reason)
        boxes.append(box)
        pos = _skip_space(text, match.end())
        if pos < len(text) and text[pos] in ",;":
            pos = _skip_space(text, pos + 1)
            if pos == len(text):
                raise BoxParseError(fmt, pos - 1, text[pos - 1 :], "separator after the last box")
    return boxes


def find_boxes(
    text: str,
    width: int,
    height: int,
    fmts: Iterable[BoxFormat | str] | None = None,
    pad_to_square: bool = True,
) -> FoundBoxes:
    """Find every box in free text (lenient): the valid ones and, without raising, the malformed ones.

    Text counts as a box candidate when it starts like one: ``[`` followed by a number, ``{<``, or ``<box>``
    (``<ref>...</ref>`` before it is allowed). Candidates that fail (``[0.1, 0.2, 0.3]``, ``x2 <= x1``, values out
    of range, unterminated text) are returned as :class:`BoxFailure`.

    Args:
        text: any text, e.g. a model's answer.
        width: image width in pixels.
        height: image height in pixels.
        fmts: the formats to look for; default ``norm01``, ``grid100`` and ``grid1000``. ``pixel`` and ``norm01``
            share their ``[...]`` syntax, so at most one of them may be given.
        pad_to_square: the text is relative to the padded square.

    Returns:
        :class:`FoundBoxes` with boxes in pixel ``xyxy`` of the original image and the failures.

    Raises:
        ValueError: for a bad image size, an unknown format, or both ``pixel`` and ``norm01`` in ``fmts``.
    """
    width, height = _check_size(width, height)
    wanted = (
        [BoxFormat.NORM01, BoxFormat.GRID100, BoxFormat.GRID1000]
        if fmts is None
        else list(dict.fromkeys(_as_format(f) for f in fmts))
    )
    if BoxFormat.PIXEL in wanted and BoxFormat.NORM01 in wanted:
        raise ValueError("`fmts` has both pixel and norm01, which share the '[x1, y1, x2, y2]' syntax; pass one.")
    found: list[tuple[int, Box]] = []
    failures: list[BoxFailure] = []
    for fmt in wanted:
        for match in _CANDIDATES[fmt].finditer(text):
            box, reason = _decode(fmt, match, width, height, pad_to_square)
            if box is None:
                failures.append(BoxFailure(fmt, match.start(), match.end(), match.group(0), reason))
            else:
                found.append((match.start(), box))
    found.sort(key=lambda item: item[0])
    failures.sort(key=lambda failure: failure.start)
    return FoundBoxes(boxes=[box for _, box in found], failures=failures)


# Steps per full range of each format: norm01 writes k/100, grid100 k, grid1000 k, pixel k/100 pixels.
_STEPS = {BoxFormat.NORM01: 100, BoxFormat.GRID100: 100, BoxFormat.GRID1000: 1000}
_PIXEL_STEPS = 100
# The largest value each normalised format writes.
_TOP = {BoxFormat.NORM01: 1.0, BoxFormat.GRID100: 100.0, BoxFormat.GRID1000: 1000.0}
_EXAMPLES = {
    BoxFormat.PIXEL: "[12.0, 30.5, 60.0, 80.0]",
    BoxFormat.NORM01: "[0.10, 0.19, 0.50, 0.50]",
    BoxFormat.GRID100: "{<10><19><50><50>|<30>}",
    BoxFormat.GRID1000: "<box>(100,188),(500,500)</box>",
}
# A candidate starts like a box and runs to its closing delimiter, or stops (unterminated) at a line end.
_BRACKET = re.compile(r"\[(?=[ \t]*[-+.\d])[^\[\]\n]*(?:\]|(?=\n)|\Z)")
_CANDIDATES = {
    BoxFormat.PIXEL: _BRACKET,
    BoxFormat.NORM01: _BRACKET,
    BoxFormat.GRID100: re.compile(r"\{(?=\s*<)[^{}\n]*(?:\}|(?=\n)|\Z)"),
    BoxFormat.GRID1000: re.compile(r"(?:<ref>[^<]*</ref>\s*)?<box>(?:(?!</box>|<box>).)*(?:</box>|\Z)", re.DOTALL),
}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")
_GRID100_VALUE = re.compile(r"\s*<\s*([^<>]*?)\s*>")
_GRID1000_BODY = re.compile(r"\s*\(\s*([^(),]*?)\s*,\s*([^(),]*?)\s*\)\s*,\s*\(\s*([^(),]*?)\s*,\s*([^(),]*?)\s*\)\s*")
_MAX_ANGLE = 360.0


def _check_size(width: int, height: int) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer number of pixels, got {value!r}.")
    return int(width), int(height)


def _as_format(fmt: BoxFormat | str) -> BoxFormat:
    try:
        return BoxFormat(fmt)
    except ValueError:
        names = ", ".join(f.value for f in BoxFormat)
        raise ValueError(f"Unknown box format {fmt!r}; expected one of {names}.") from None


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _as_boxes(boxes: Box | Sequence[float] | Iterable[Box | Sequence[float]]) -> list[Box]:
    if isinstance(boxes, Box):
        return [boxes]
    items = list(boxes)
    if len(items) == 4 and all(_is_number(v) for v in items):
        return [Box(*(float(v) for v in items))]
    result = []
    for item in items:
        if isinstance(item, Box):
            result.append(item)
            continue
        values = list(item) if isinstance(item, Iterable) else []
        if len(values) != 4 or not all(_is_number(v) for v in values):
            raise ValueError(f"Each box must be a Box or 4 numbers [x1, y1, x2, y2] in pixels, got {item!r}.")
        result.append(Box(*(float(v) for v in values)))
    return result


def _check_box(box: Box, width: int, height: int, fmt: BoxFormat) -> None:
    values = (box.x1, box.y1, box.x2, box.y2)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"Box {box} has a non-finite coordinate.")
    if box.x2 <= box.x1 or box.y2 <= box.y1:
        raise ValueError(f"Box {box} is degenerate: it needs x2 > x1 and y2 > y1 (pixel xyxy, not xywh).")
    if box.x1 < 0 or box.y1 < 0 or box.x2 > width or box.y2 > height:
        raise ValueError(f"Box {box} lies outside the {width}x{height} image; clip it to [0, {width}]x[0, {height}].")
    if box.angle is not None:
        if not math.isfinite(box.angle) or abs(box.angle) > _MAX_ANGLE:
            raise ValueError(f"Box {box} has angle {box.angle!r}; expected degrees in [-360, 360].")
        if fmt is not BoxFormat.GRID100 and box.angle != 0:
            raise ValueError(f"Box {box} has angle {box.angle}, which {fmt.value} text cannot carry; use grid100.")


def _frame(width: int, height: int, pad_to_square: bool) -> tuple[int, int, int, int]:
    """Return ``(scale_x, scale_y, offset_x, offset_y)``: pixel x maps to the fraction ``(x + offset_x) / scale_x``."""
    if not pad_to_square:
        return width, height, 0, 0
    pad = square_padding(width, height)
    return pad.side, pad.side, pad.left, pad.top


def _quantise(lo: float, hi: float, start: float, end: float, steps: int) -> tuple[int, int]:
    """Round ``lo < hi`` (step units) half up to integers in [0, steps] that are at least one step apart.

    A pair that rounds to one value ``k`` is widened by one step, up or down, so that it still overlaps the image,
    which spans ``[start, end]`` in the same units: up when ``k`` is at or before the image's start, down when at or
    after its end, otherwise towards the side of the box's centre.
    """
    k1 = min(max(math.floor(lo + 0.5), 0), steps)
    k2 = min(max(math.floor(hi + 0.5), 0), steps)
    if k2 <= k1:
        up = k1 <= start or (k1 < end and (lo + hi) / 2 >= k1)
        k1, k2 = (k1, k1 + 1) if up else (k1 - 1, k1)
    return k1, k2


def _encode_one(box: Box, fmt: BoxFormat, width: int, height: int, pad_to_square: bool, trim_zeros: bool) -> str:
    if fmt is BoxFormat.PIXEL:
        kx1, kx2 = _quantise(*(v * _PIXEL_STEPS for v in (box.x1, box.x2, 0, width)), width * _PIXEL_STEPS)
        ky1, ky2 = _quantise(*(v * _PIXEL_STEPS for v in (box.y1, box.y2, 0, height)), height * _PIXEL_STEPS)
        return "[" + ", ".join(repr(k / _PIXEL_STEPS) for k in (kx1, ky1, kx2, ky2)) + "]"
    sx, sy, ox, oy = _frame(width, height, pad_to_square)
    steps = _STEPS[fmt]
    kx1, kx2 = _quantise(*((v + ox) / sx * steps for v in (box.x1, box.x2, 0, width)), steps)
    ky1, ky2 = _quantise(*((v + oy) / sy * steps for v in (box.y1, box.y2, 0, height)), steps)
    ks = (kx1, ky1, kx2, ky2)
    if fmt is BoxFormat.NORM01:
        words = [repr(k / steps) if trim_zeros else f"{k / steps:.2f}" for k in ks]
        return "[" + ", ".join(words) + "]"
    if fmt is BoxFormat.GRID100:
        angle = "" if box.angle is None else f"|<{math.floor(box.angle + 0.5)}>"
        return "{" + "".join(f"<{k}>" for k in ks) + angle + "}"
    return f"<box>({kx1},{ky1}),({kx2},{ky2})</box>"


def _decode(
    fmt: BoxFormat, match: re.Match[str], width: int, height: int, pad_to_square: bool
) -> tuple[Box | None, str]:
    """Turn one candidate into a pixel box, or return ``(None, reason)``."""
    text = match.group(0)
    if fmt is BoxFormat.GRID1000:
        values, angle, reason = _read_grid1000(text)
    elif fmt is BoxFormat.GRID100:
        values, angle, reason = _read_grid100(text)
    else:
        values, angle, reason = _read_bracket(text)
    if values is None:
        return None, reason
    if fmt is BoxFormat.PIXEL:
        limits = (width, height, width, height)
        for name, value, limit in zip(("x1", "y1", "x2", "y2"), values, limits):
            if not 0 <= value <= limit:
                return None, f"{name} = {value:g} is outside the {width}x{height} image"
    else:
        top = _TOP[fmt]
        for name, value in zip(("x1", "y1", "x2", "y2"), values):
            if not 0 <= value <= top:
                return None, f"{name} = {value:g} is outside [0, {top:g}]"
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        return None, f"degenerate box: needs x2 > x1 and y2 > y1, got x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}"
    if fmt is not BoxFormat.PIXEL:
        top = _TOP[fmt]
        sx, sy, ox, oy = _frame(width, height, pad_to_square)
        x1, x2 = (min(max(v / top * sx - ox, 0.0), width) for v in (x1, x2))
        y1, y2 = (min(max(v / top * sy - oy, 0.0), height) for v in (y1, y2))
        if x2 <= x1 or y2 <= y1:
            return None, f"box lies in the square padding, outside the {width}x{height} image"
    return Box(x1, y1, x2, y2, angle), ""


_Read = tuple[list[float] | None, float | None, str]


def _read_bracket(text: str) -> _Read:
    if not text.endswith("]"):
        return None, None, "unterminated box: missing ']'"
    parts = [part.strip() for part in text[1:-1].split(",")]
    for part in parts:
        if not _NUMBER.fullmatch(part):
            return None, None, f"not a number: {part!r}"
    if len(parts) != 4:
        return None, None, f"expected 4 numbers [x1, y1, x2, y2], found {len(parts)}"
    return [float(part) for part in parts], None, ""


def _read_grid100(text: str) -> _Read:
    if not text.endswith("}"):
        return None, None, "unterminated box: missing '}'"
    body = text[1:-1]
    coords, _, angle_text = body.partition("|")
    values = []
    pos = 0
    for match in _GRID100_VALUE.finditer(coords):
        if match.start() != pos:
            break
        values.append(match.group(1))
        pos = match.end()
    if coords[pos:].strip():
        return None, None, f"unexpected text {coords[pos:].strip()!r}; expected <x1><y1><x2><y2>"
    for value in values:
        if not _INTEGER.fullmatch(value):
            return None, None, f"not an integer: {value!r}"
    if len(values) != 4:
        return None, None, f"expected 4 values <x1><y1><x2><y2>, found {len(values)}"
    angle = None
    if "|" in body:
        angle_match = re.fullmatch(r"\s*<\s*([-+]?\d+)\s*>\s*", angle_text)
        if angle_match is None:
            return None, None, f"malformed angle {angle_text!r}; expected |<degrees>"
        angle = float(angle_match.group(1))
        if abs(angle) > _MAX_ANGLE:
            return None, None, f"angle {angle:g} is outside [-360, 360] degrees"
    return [float(v) for v in values], angle, ""


def _read_grid1000(text: str) -> _Read:
    if not text.endswith("</box>"):
        return None, None, "unterminated box: missing '</box>'"
    body = text[text.index("<box>") + len("<box>") : -len("</box>")]
    match = _GRID1000_BODY.fullmatch(body)
    if match is None:
        return None, None, f"malformed box {body!r}; expected (x1,y1),(x2,y2)"
    for value in match.groups():
        if not _INTEGER.fullmatch(value):
            return None, None, f"not an integer: {value!r}"
    return [float(v) for v in match.groups()], None, ""


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos
