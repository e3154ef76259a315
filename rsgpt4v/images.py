"""Image bytes for the build and the one image preparation used by training, prediction and the demo.

Storage rule (``storage_bytes``): JPEG, PNG and WebP files whose pixels are 8-bit (modes ``1``, ``L``, ``LA``,
``P``, ``RGB``, ``RGBA``) are embedded byte for byte. Everything else (TIFF, 16-bit or float rasters, more than
four bands) is converted to PNG: 8-bit images keep their pixels exactly; single-band 16-bit/32-bit/float rasters
are stretched linearly from their 2nd to their 98th percentile onto 0..255 (clipped), which is how remote-sensing
viewers display them by default. The original path (with its extension) is kept in the ``image_path`` column.

Model input rule (``prepare_image``): ``pad`` pastes the image centred on a square canvas filled with the image
processor's mean colour (LLaVA-1.5's ``expand2square``: offset ``((S - w) // 2, (S - h) // 2)`` with ``S = max(w,
h)``, ``rsgpt4v.boxes.square_padding``: the rule the box codec uses), then the processor resizes;
``resize`` lets the processor resize without padding; ``processor`` hands the image to the processor unchanged
(its own resize and centre crop).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from rsgpt4v.boxes import square_padding

__all__ = ["ImageAspect", "StoredImage", "UnreadableImageError", "pil_formats", "prepare_image", "storage_bytes"]

ImageAspect = Literal["pad", "resize", "processor"]
_KEPT_FORMATS = {"JPEG", "PNG", "WEBP"}
_EIGHT_BIT_MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}
#: Images larger than this are refused rather than decoded (decompression-bomb guard, 50 megapixels x 4).
MAX_PIXELS = 200_000_000


class UnreadableImageError(ValueError):
    """An image file is missing, truncated, undecodable or of an unsupported raster layout."""


@dataclass(frozen=True)
class StoredImage:
    """Bytes to embed plus what the build records about them."""

    data: bytes
    width: int
    height: int
    original_format: str
    converted: bool


_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)


def pil_formats(header: bytes) -> list[str] | None:
    """The PIL format to try first for a file starting with ``header`` (``None``: let PIL try every format).

    ``Image.open`` otherwise probes its plugins one by one, which costs about a millisecond per TIFF.
    """
    for signature, fmt in _SIGNATURES:
        if header.startswith(signature):
            return [fmt]
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return ["WEBP"]
    return None


def _stretch(band: np.ndarray) -> np.ndarray:
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return np.zeros(band.shape, dtype=np.uint8)
    lo, hi = np.percentile(finite, [2, 98])
    if hi <= lo:
        hi = lo + 1
    scaled = (np.nan_to_num(band.astype(np.float64), nan=lo) - lo) / (hi - lo) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def _to_displayable(img: Image.Image) -> Image.Image:
    if img.mode in _EIGHT_BIT_MODES:
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_stretch(np.asarray(img)), mode="L")
    if img.mode == "CMYK":
        return img.convert("RGB")
    raise UnreadableImageError(f"unsupported raster mode {img.mode!r} ({len(img.getbands())} bands)")


def storage_bytes(data: bytes, name: str = "<bytes>") -> StoredImage:
    """Return the bytes to embed for an image file's content, decoding it fully once to prove it is readable.

    Args:
        data: the file's bytes.
        name: how errors name the file.

    Raises:
        UnreadableImageError: the bytes are empty, truncated, not an image, or an unsupported raster layout.
    """
    if not data:
        raise UnreadableImageError(f"{name}: the image file is empty")
    try:
        with Image.open(io.BytesIO(data), formats=pil_formats(data[:16])) as img:
            fmt = img.format or "UNKNOWN"
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UnreadableImageError(f"{name}: {width}x{height} exceeds {MAX_PIXELS} pixels")
            img.load()
            if fmt in _KEPT_FORMATS and img.mode in _EIGHT_BIT_MODES:
                return StoredImage(data, width, height, fmt, converted=False)
            shown = _to_displayable(img)
            buf = io.BytesIO()
            shown.save(buf, format="PNG", optimize=False)
            return StoredImage(buf.getvalue(), width, height, fmt, converted=True)
    except UnreadableImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImageError(f"{name}: cannot decode image ({exc})") from exc


def prepare_image(image: Image.Image, aspect: ImageAspect = "pad", mean: Sequence[float] | None = None) -> Image.Image:
    """Prepare an image for the model: RGB, and for ``pad`` centred on a square of the processor's mean colour.

    Args:
        image: a PIL image.
        aspect: ``pad``, ``resize`` or ``processor`` (see the module docstring).
        mean: the image processor's ``image_mean`` in 0..1 (used by ``pad``; black when ``None``).

    Raises:
        ValueError: for an unknown ``aspect``.
    """
    if aspect not in ("pad", "resize", "processor"):
        raise ValueError(f"Unknown image aspect {aspect!r}; use 'pad', 'resize' or 'processor'.")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if aspect != "pad" or rgb.width == rgb.height:
        return rgb
    pad = square_padding(rgb.width, rgb.height)
    fill = tuple(int(round(255 * m)) for m in (mean or (0.0, 0.0, 0.0)))
    canvas = Image.new("RGB", (pad.side, pad.side), fill)
    canvas.paste(rgb, (pad.left, pad.top))
    return canvas
