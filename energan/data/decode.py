"""One image file decoded the way every image path reads it: RGB, the centered square, resized."""

from __future__ import annotations

import numpy as np
from einops import rearrange

from energan.errors import DataError

RESAMPLING = "bicubic"  # antialiased (PIL resizes with a support scaled to the reduction)
CROP = "center"


def decode_image(path: str, size: int) -> np.ndarray:
    """The image at ``path`` as uint8 [3, size, size]: converted to RGB, cropped to its largest
    centered square (first, so no border pixels bleed in), resized with PIL's bicubic filter.

    The prepared store and the decode-on-draw path both call this: their pixels are equal."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            image = image.resize((size, size), Image.Resampling.BICUBIC)
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:  # PIL raises SyntaxError for some malformed headers
        raise DataError(f"folder: cannot read image {path}: {error}") from None
    return np.ascontiguousarray(rearrange(pixels, "h w c -> c h w"))
