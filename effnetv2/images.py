"""Reading any image a user can upload into the RGB picture a classifier expects.

Every PIL mode is accepted (bilevel, grey, palette with transparency, RGBA, CMYK, 16-bit and float), EXIF
orientation is applied (phones store rotated pixels plus a tag), animations give their first frame, and
transparent pixels are composited on white (black, PIL's default, changes the class of many cut-outs).
Images above :data:`MAX_IMAGE_PIXELS` are refused before their pixels are decoded (decompression bombs).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

MAX_IMAGE_PIXELS = 40_000_000
"""The largest image accepted, in pixels (40 megapixels: beyond any phone photo, far below a bomb)."""

ImageSource = str | os.PathLike | bytes | Image.Image
_HIGH_BIT_MODES = ("I", "F")  # and every "I;16*": scaled to 8 bits rather than clipped as PIL's convert does
_WHITE = (255, 255, 255)


def _describe(source: ImageSource) -> str:
    if isinstance(source, (bytes, bytearray)):
        return f"image ({len(source)} bytes)"
    if isinstance(source, Image.Image):
        return "image"
    return Path(source).name or str(source)


def _check_size(image: Image.Image, what: str) -> None:
    w, h = image.size
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{what}: {w}x{h} is {w * h / 1e6:.1f} megapixels, above the limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels"
            " (decompression bomb?)"
        )
    if w == 0 or h == 0:
        raise ImageError(f"{what}: the image is empty ({w}x{h})")


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit and float greyscale -> 8-bit "L", scaling the value range instead of clipping it."""
    a = np.asarray(image, dtype=np.float64)
    lo, hi = float(np.nanmin(a)) if a.size else 0.0, float(np.nanmax(a)) if a.size else 0.0
    if image.mode.startswith("I;16") or (image.mode == "I" and lo >= 0 and hi <= 65535 and hi > 255):
        a = a / 257.0  # 65535 -> 255
    elif image.mode == "F" and lo >= 0 and hi <= 1.0:
        a = a * 255.0
    elif not (lo >= 0 and hi <= 255):  # arbitrary range (e.g. signed or scientific data): stretch it
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.nan_to_num(np.clip(np.rint(a), 0, 255)).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency composited on white. Already-RGB images are returned as they are."""
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_BIT_MODES or image.mode.startswith("I;16"):
        return _to_8bit(image).convert("RGB")
    try:
        has_alpha = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
        if image.mode == "La":
            image = image.convert("RGBa")  # premultiplied grey + alpha: PIL converts it only via RGBa
        if has_alpha:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (*_WHITE, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"image mode {image.mode!r} cannot be converted to RGB: {exc}") from None


def open_image(source: ImageSource) -> Image.Image:
    """A path, encoded bytes or a PIL image -> an RGB image with EXIF orientation applied.

    Raises :class:`ImageError` (a ``ValueError``) with a one-line message for a missing, empty, truncated,
    unidentifiable or too-large image.
    """
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, Image.Image)):
        raise ImageError(f"expected a path, bytes or a PIL image, got {type(source).__name__}")
    what = _describe(source)
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (bytes, bytearray)):
            if not source:
                raise ImageError("image: no bytes (empty upload?)")
            fp: io.BytesIO | Path = io.BytesIO(source)
        else:
            fp = Path(source)
            if not fp.is_file():
                raise ImageError(f"{source}: no such image file")
            if fp.stat().st_size == 0:
                raise ImageError(f"{what}: the file is empty")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(fp)
        except Image.DecompressionBombError:
            raise ImageError(
                f"{what}: refused, above the limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels (decompression bomb?)"
            ) from None
        except UnidentifiedImageError:
            raise ImageError(f"{what}: not an image file PIL can read") from None
        except OSError as exc:
            raise ImageError(f"{what}: cannot be decoded (truncated or corrupt?): {exc}") from None
    _check_size(image, what)
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)  # the first frame of a GIF/WebP/APNG animation
        image.load()
        if image is source:  # the caller's image: never modified
            image = ImageOps.exif_transpose(image)
        else:  # ours: no copy (a 12-megapixel photo is 48 MB)
            ImageOps.exif_transpose(image, in_place=True)
    except (OSError, SyntaxError, ValueError) as exc:  # truncated data, broken EXIF, bad frame
        raise ImageError(f"{what}: cannot be decoded (truncated or corrupt?): {exc}") from None
    return to_rgb(image)
