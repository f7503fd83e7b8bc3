"""Images made from the photos in assets/ for tests and benchmarks that need a known object in a known place."""

from __future__ import annotations

from PIL import Image

from ..samples import ASSETS

FACE_BOX = (84, 24, 196, 136)
"""Where the face of :func:`cat_on_gray` lies in a 224 px model input (x0, y0, x1, y1) after resize 256 + center
crop 224 (Lite0's eval transform)."""


def cat_on_gray() -> Image.Image:
    """Chelsea's face (a 300x300 crop of assets/chelsea.jpg, scaled to 112 px) pasted on a plain gray (128) 256 px
    canvas: a localized object whose place is known. Lite0's eval transform keeps it whole, at FACE_BOX."""
    face = Image.open(ASSETS / "chelsea.jpg").convert("RGB").crop((120, 0, 420, 300)).resize((112, 112), Image.BICUBIC)
    canvas = Image.new("RGB", (256, 256), (128, 128, 128))
    canvas.paste(face, (100, 40))
    return canvas
