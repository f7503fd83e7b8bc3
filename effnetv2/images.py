"""Reading any image a user can upload into the RGB picture a classifier expects.

Every PIL mode is accepted (bilevel, grey, palette with transparency, RGBA, CMYK, 16-bit and float), EXIF
orientation is applied (phones store rotated pixels plus a tag), animations give their first frame, and
transparent pixels are composited on white (black, PIL's default, changes the class of many cut-outs).
Images above :data:`MAX_IMAGE_PIXELS` or more elongated than :data:`MAX_ASPECT_RATIO` are refused before their
pixels are decoded (decompression bombs; preprocessing scales the short side up, so a thin strip within the
pixel bound would otherwise become gigabytes). So are PNGs whose compressed text or ICC chunks inflate beyond
PIL's limits (chunk bombs), and float images with NaN or infinite pixels: no 8-bit picture means what they mean
(stretching the range made them all black, and a black picture got a confident class).
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
MAX_ASPECT_RATIO = 1000
"""The most elongated image accepted, long side over short side (a 1000:1 strip is already a line, not a
photo; panoramas are about 10:1). Preprocessing never allocates the whole resized strip either
(:meth:`effnetv2.preprocess.EvalTransform.crop` resizes only the window it keeps)."""

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
    if max(w, h) > MAX_ASPECT_RATIO * min(w, h):
        raise ImageError(
            f"{what}: {w}x{h} has an aspect ratio of {max(w, h) / min(w, h):.0f}:1, above the limit of "
            f"{MAX_ASPECT_RATIO}:1"
        )


def _chunk_bomb(what: str, exc: ValueError) -> ImageError | None:
    """PIL's refusal of a PNG text/ICC chunk beyond ``MAX_TEXT_CHUNK`` or ``MAX_TEXT_MEMORY``, as one line."""
    text = str(exc)
    if "MAX_TEXT_MEMORY" in text:
        return ImageError(f"{what}: refused, the compressed text chunks of this PNG inflate beyond 64 MB (chunk bomb?)")
    if "MAX_TEXT_CHUNK" in text:
        return ImageError(
            f"{what}: refused, a compressed text or ICC chunk of this PNG inflates beyond 1 MB (chunk bomb?)"
        )
    return None


def _to_8bit(image: Image.Image, what: str = "image") -> Image.Image:
    """16-bit, 32-bit and float greyscale -> 8-bit "L", scaling the value range instead of clipping it.

    Float images with NaN or infinite pixels are refused: a range with an infinite end maps every finite pixel
    to one grey, and no single grey is right for "no value" (masks differ from file to file).
    """
    a = np.asarray(image, dtype=np.float64)
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    if bad:
        raise ImageError(
            f"{what}: {bad} of {a.size} pixels are NaN or infinite (a float image with missing values?); "
            "replace them with numbers first"
        )
    lo, hi = float(np.nanmin(a)) if a.size else 0.0, float(np.nanmax(a)) if a.size else 0.0
    if image.mode.startswith("I;16") or (image.mode == "I" and lo >= 0 and hi <= 65535 and hi > 255):
        a = a / 257.0  # 65535 -> 255
    elif image.mode == "F" and lo >= 0 and hi <= 1.0:
        a = a * 255.0
    elif not (lo >= 0 and hi <= 255):  # arbitrary range (e.g. signed or scientific data): stretch it
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image, what: str = "image") -> Image.Image:
    """Any PIL mode -> RGB; transparency composited on white. Already-RGB images are returned as they are.

    ``what`` names the image in errors (a float image with NaN or infinite pixels is refused).
    """
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_BIT_MODES or image.mode.startswith("I;16"):
        return _to_8bit(image, what).convert("RGB")
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
        except ValueError as exc:  # a chunk bomb before the pixel data (PIL reads those chunks in open)
            raise (_chunk_bomb(what, exc) or ImageError(f"{what}: cannot be decoded: {exc}")) from None
    _check_size(image, what)
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)  # the first frame of a GIF/WebP/APNG animation
        image.load()
        if image is source:  # the caller's image: never modified
            image = ImageOps.exif_transpose(image)
        else:  # ours: no copy (a 12-megapixel photo is 48 MB)
            ImageOps.exif_transpose(image, in_place=True)
    except ValueError as exc:  # a chunk bomb after the pixel data, broken EXIF
        raise (
            _chunk_bomb(what, exc) or ImageError(f"{what}: cannot be decoded (truncated or corrupt?): {exc}")
        ) from None
    except (OSError, SyntaxError) as exc:  # truncated data, bad frame
        raise ImageError(f"{what}: cannot be decoded (truncated or corrupt?): {exc}") from None
    return to_rgb(image, what)
