import io

import pytest
from helpers import png
from PIL import Image

from rsgpt4v.images import UnreadableImageError, prepare_image, storage_bytes


def test_prepare_pad_centres_on_mean_colour():
    img = Image.new("RGB", (40, 30), (255, 0, 0))
    out = prepare_image(img, "pad", mean=(0.5, 0.5, 0.5))
    assert out.size == (40, 40)
    assert out.getpixel((0, 0)) == (128, 128, 128) and out.getpixel((0, 39)) == (128, 128, 128)
    assert out.getpixel((0, 5)) == (255, 0, 0) and out.getpixel((39, 34)) == (255, 0, 0)
    assert out.getpixel((0, 4)) == (128, 128, 128) and out.getpixel((0, 35)) == (128, 128, 128)


def test_prepare_other_modes():
    img = Image.new("L", (40, 30), 7)
    assert prepare_image(img, "resize").size == (40, 30) and prepare_image(img, "resize").mode == "RGB"
    assert prepare_image(img, "processor").size == (40, 30)
    with pytest.raises(ValueError, match="Unknown image aspect 'crop'"):
        prepare_image(img, "crop")


def test_storage_bytes_rules():
    jpg = png(fmt="JPEG")
    kept = storage_bytes(jpg)
    assert kept.data == jpg and not kept.converted and kept.original_format == "JPEG"
    tif = storage_bytes(png(fmt="TIFF"))
    assert tif.converted and tif.original_format == "TIFF"
    assert Image.open(io.BytesIO(tif.data)).tobytes() == Image.open(io.BytesIO(png(fmt="TIFF"))).tobytes()
    stretched = Image.open(io.BytesIO(storage_bytes(png(fmt="TIFF", mode="I;16")).data))
    assert stretched.mode == "L" and stretched.getextrema() == (0, 255)


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"not an image", "cannot decode"), (png()[:60], "cannot")])
def test_storage_bytes_errors(data, message):
    with pytest.raises(UnreadableImageError, match=message):
        storage_bytes(data, "x.png")
