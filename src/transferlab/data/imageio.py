"""The one image decode rule shared by training, evaluation, `predict` and serving: PIL + numpy.

Kept free of torch so the exported-model predictor can use it without the training stack.
Every path that turns a file into pixels goes through `decode_file` (or `prepare_image` for an
already opened image), so a picture is seen the same way when it is trained on and when it is
served:

- EXIF orientation is applied (phones store portrait photos as rotated landscape pixels);
- 16-bit integer images (modes I;16, I;16B, I;16L and I holding 0..65535, as 16-bit PNG/TIFF
  decode) are scaled to 8 bits by round(value / 257): 65535 -> 255, never clipped;
- float images (mode F) have the documented range [0, 1] and are scaled by 255; a float image
  outside [0, 1] (or with NaN/inf) is refused with the reason instead of being clipped;
- transparency (palette + tRNS, LA, PA, RGBA, a tRNS colour) is composited onto BACKGROUND;
- CMYK and every other mode PIL can convert become RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

BACKGROUND = (255, 255, 255)  # transparent pixels become white, in training and in serving
FLOAT_RANGE = (0.0, 1.0)  # the documented range of float (mode F) pixels
FLOAT_SLACK = 1e-3  # rounding noise beyond [0, 1] that is tolerated (and clamped)
ORIENTATION_TAG = 0x0112
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
UNREADABLE = "not a readable image (corrupt or unknown format)"


def to_rgb(im: Image.Image) -> Image.Image:
    """The decode rule (module docstring) applied to an opened image: upright 8-bit RGB."""
    im = ImageOps.exif_transpose(im)
    if im.mode in SIXTEEN_BIT_MODES:
        im = _from_sixteen_bit(im)
    elif im.mode == "F":
        im = _from_float(im)
    if im.mode in ALPHA_MODES or "transparency" in im.info:
        return _composite(im.convert("RGBA"))
    return im if im.mode == "RGB" else im.convert("RGB")


def _from_sixteen_bit(im: Image.Image) -> Image.Image:
    """16-bit grey → 8-bit grey by round(v / 257); 32-bit values beyond 16 bits are refused.

    PIL's own convert() clips these to 255 instead, which turns most of a normal 16-bit
    picture white.
    """
    values = np.asarray(im).astype(np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi > 65535:
        raise ValueError(f"32-bit integer pixels outside 0..65535 (min {lo}, max {hi}); "
                         "save the image with 8 or 16 bits per channel")
    return Image.fromarray(((values + 128) // 257).astype(np.uint8), mode="L")


def _from_float(im: Image.Image) -> Image.Image:
    """Float grey in the documented range [0, 1] → 8-bit grey by round(v * 255)."""
    values = np.asarray(im, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("float image has NaN or infinite pixels; fix or remove the file")
    lo, hi = float(values.min()), float(values.max())
    if lo < FLOAT_RANGE[0] - FLOAT_SLACK or hi > FLOAT_RANGE[1] + FLOAT_SLACK:
        raise ValueError(f"float pixels outside the documented range [0, 1] (min {lo:.4g}, "
                         f"max {hi:.4g}); scale them to [0, 1] or save the image as 8/16-bit")
    scaled = np.rint(np.clip(values, *FLOAT_RANGE) * 255.0)
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _composite(rgba: Image.Image) -> Image.Image:
    """Alpha-composite onto the fixed BACKGROUND (PIL integer arithmetic: same bytes everywhere)."""
    base = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(base, rgba).convert("RGB")


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """RGB, shorter side resized to `size` (bicubic), then the centre `size`×`size` square.

    A non-RGB image goes through `to_rgb` first (never PIL's clipping convert).
    """
    if im.mode != "RGB":
        im = to_rgb(im)
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                   Image.Resampling.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def prepare_image(im: Image.Image, size: int) -> np.ndarray:
    """An opened (fully loaded) image → uint8 (size, size, 3) by the decode rule."""
    return np.asarray(resize_center_crop(to_rgb(im), size), dtype=np.uint8)


def decode_file(path: str | Path, size: int) -> np.ndarray:
    """One image file → uint8 (size, size, 3): the decode rule, shorter side to `size`, centre crop.

    Raises OSError/ValueError (or PIL's DecompressionBombError) with a readable reason for
    anything that is not a whole, usable image; truncated files fail here, not in training.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    try:
        with Image.open(path) as im:
            im.load()
            return prepare_image(im, size)
    except UnidentifiedImageError as exc:
        raise ValueError(UNREADABLE) from exc


def header_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), from the header alone.

    A PNG's EXIF may sit after the pixels, where reading it would decode the whole image;
    only EXIF already seen in the header is used there.
    """
    w, h = im.size
    if im.format == "PNG" and "exif" not in im.info:
        return w, h
    try:
        orientation = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block leaves the stored size
        return w, h
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
