"""The one image decode rule shared by training data and serving: PIL and numpy only.

Kept free of torch so the exported-model predictor can use it without the training stack.
"""

from __future__ import annotations

from PIL import Image


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """RGB, shorter side resized to `size` (bicubic), then the centre `size`×`size` square."""
    im = im.convert("RGB")
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                   Image.Resampling.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))
