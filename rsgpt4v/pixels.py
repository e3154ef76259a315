"""An image processor's ``pixel_values``, bit for bit, without its per-image float passes.

``transformers``' PIL-backend image processors (``CLIPImageProcessorPil``, what ``AutoProcessor`` loads for the
LLaVA-1.5 checkpoints when torchvision is absent) resize with PIL, then rescale (``uint8 -> float64 * factor ->
float32``) and normalise (``(x - mean) / std`` in ``float32``) in separate whole-image passes through transposed
arrays: about 40% of the processor's time on a 336 px image, more than the resize. Both steps map each 8-bit value
of a channel to one ``float32`` independently of its neighbours, so :class:`PixelValues` computes that map once per
channel for the 256 possible bytes, with the processor's own operations in the processor's order and dtypes, and
looks the resized pixels up in it. The result equals the processor's, bit for bit (checked by
``tests/training/test_collator.py``).

The look-up is used only when it is known to be exact: an image processor whose pipeline is the PIL backend's own
(no method overridden), resizing to a fixed height and width, with no centre crop and no padding, and RGB images
without transparency. Anything else (another backend, ``image_aspect="processor"``'s resize and centre crop,
unknown options) goes to the image processor itself, so the output is always the processor's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PREPARED", "PixelValues"]

#: Image processor options that pass finished pixel values through unchanged, so that a processor given them (e.g.
#: ``LlavaProcessor`` for the image-token count) returns the same pixel values.
PREPARED = {
    "do_resize": False,
    "do_center_crop": False,
    "do_rescale": False,
    "do_normalize": False,
    "do_convert_rgb": False,
    "do_pad": False,
}

# The PIL backend's pipeline, which the look-up reproduces; a subclass overriding one of them is not reproduced.
_PIPELINE = (
    "preprocess",
    "_standardize_kwargs",
    "_preprocess_image_like_inputs",
    "_prepare_image_like_inputs",
    "_prepare_images_structure",
    "process_image",
    "convert_to_rgb",
    "_preprocess",
    "resize",
    "rescale",
    "normalize",
)
# Options that do not change the pixels of an RGB PIL image processed on the CPU into a channels-first batch.
# (``crop_size`` and ``pad_size`` are read only with ``do_center_crop`` and ``do_pad``, which the look-up excludes.)
_NEUTRAL = {
    "return_tensors",
    "device",
    "disable_grouping",
    "image_seq_length",
    "default_to_square",
    "crop_size",
    "pad_size",
}


class PixelValues:
    """``image_processor(images=images, return_tensors="pt", **kwargs)["pixel_values"]``, faster where exact.

    Args:
        image_processor: the processor's image processor.
        **kwargs: options passed to the image processor (e.g. :func:`rsgpt4v.inference.processor_image_kwargs`).

    Attributes:
        fast: whether the look-up path applies to this image processor and these options (RGB images without
            transparency use it; other images go through the image processor).
    """

    def __init__(self, image_processor: Any, **kwargs: Any) -> None:
        self.image_processor = image_processor
        self.kwargs = kwargs
        self._plan = _plan(image_processor, kwargs)
        self.fast = self._plan is not None

    def __call__(self, images: Sequence[Any]) -> Any:
        """The ``float32`` pixel values ``(N, 3, H, W)`` of PIL images, as the image processor computes them."""
        import numpy as np
        import torch
        from PIL import Image

        if self._plan is None or not images:
            return self._processor(images)
        size, resample, table, convert_rgb = self._plan
        height, width = size
        out = torch.empty((len(images), 3, height, width), dtype=torch.float32)
        planes = out.numpy()
        for i, image in enumerate(images):
            if (
                not isinstance(image, Image.Image)
                or image.mode != "RGB"
                or (convert_rgb and image.info.get("transparency") is not None)
            ):
                out[i] = self._processor([image])[0]
                continue
            resized = np.asarray(image.resize((width, height), resample=resample))
            for channel in range(3):
                np.take(table[channel], resized[:, :, channel], out=planes[i, channel], mode="clip")
        return out

    def _processor(self, images: Sequence[Any]) -> Any:
        return self.image_processor(images=list(images), return_tensors="pt", **self.kwargs)["pixel_values"]


def _plan(image_processor: Any, kwargs: dict[str, Any]) -> tuple[tuple[int, int], int, Any, bool] | None:
    """(output size, PIL resample, per-channel byte -> float32 table, RGB conversion) when the look-up is exact."""
    import numpy as np
    from transformers.image_utils import ChannelDimension, PILImageResampling

    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:  # a transformers version without the backend classes: the image processor does it all
        return None

    if not isinstance(image_processor, PilBackend) or any(
        getattr(type(image_processor), name, None) is not getattr(PilBackend, name) for name in _PIPELINE
    ):
        return None
    # The options as the image processor's own ``preprocess`` resolves them.
    settings = dict(kwargs)
    names = getattr(image_processor, "_valid_kwargs_names", None)
    if names is None:  # a transformers version that resolves options differently
        return None
    for name in names:
        settings.setdefault(name, getattr(image_processor, name, None))
    settings = image_processor._standardize_kwargs(**settings)
    image_processor._validate_preprocess_kwargs(**settings)
    get = settings.pop
    size, resample = get("size", None), get("resample", None)
    do_rescale, factor = get("do_rescale", None), get("rescale_factor", None)
    do_normalize, mean, std = get("do_normalize", None), get("image_mean", None), get("image_std", None)
    convert_rgb = bool(get("do_convert_rgb", None))
    if get("data_format", None) not in (None, ChannelDimension.FIRST, "channels_first"):
        return None
    expected = {"do_resize": True, "do_center_crop": None, "do_pad": None, "input_data_format": None}
    if any(bool(get(name, None)) != bool(value) for name, value in expected.items()):
        return None
    if any(value is not None for name, value in settings.items() if name not in _NEUTRAL):
        return None  # an option this module does not know of
    if size is None or not (size.height and size.width) or size.shortest_edge or (size.max_height and size.max_width):
        return None
    resample = PILImageResampling.BILINEAR if resample is None else resample
    if not isinstance(resample, int) or not (do_rescale or do_normalize):
        return None
    # The processor's operations on the 256 byte values of each channel, in its order and dtypes.
    values = np.arange(256, dtype=np.uint8)[None, :].repeat(3, axis=0)
    if do_rescale:
        values = (values.astype(np.float64) * factor).astype(np.float32)
    if do_normalize:
        values = values.astype(np.float32, copy=False)  # the processor normalises in float32
        mean, std = (np.array(v, dtype=values.dtype).reshape(-1) for v in (mean, std))
        if {mean.size, std.size} - {1, 3}:
            return None  # the image processor raises its own error
        values = (values - np.resize(mean, 3)[:, None]) / np.resize(std, 3)[:, None]
    return (int(size.height), int(size.width)), int(resample), np.ascontiguousarray(values), convert_rgb
