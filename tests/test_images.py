"""open_image: every PIL mode to RGB, EXIF orientation, first frame, white behind transparency, clear refusals."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effnetv2 import MAX_IMAGE_PIXELS, ImageError, open_image

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _encode(image: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I;16", "I", "F", "YCbCr", "RGBX"])
def test_every_mode_becomes_rgb(mode):
    img = open_image(Image.new(mode, (7, 5)))
    assert img.mode == "RGB" and img.size == (7, 5)


def test_sixteen_bit_and_float_are_scaled_not_clipped():
    grey16 = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    assert np.asarray(open_image(_encode(grey16)))[0, :, 0].tolist() == [0, 128, 255]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert np.asarray(open_image(unit))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_transparent_pixels_become_white(mode):
    rgba = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    src = rgba if mode == "RGBA" else rgba.convert(mode)
    out = np.asarray(open_image(src if mode == "PA" else _encode(src)))  # PNG cannot hold PA
    assert out[1, 3].tolist() == [255, 255, 255]
    assert out[0, 0].tolist() != [255, 255, 255]


def test_palette_with_transparent_index_becomes_white():
    p = Image.new("P", (3, 1))
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p.putpixel((1, 0), 1)
    out = np.asarray(open_image(_encode(p, transparency=0)))
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [10, 200, 30]


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = _encode(wide, "JPEG", exif=exif.tobytes())
    assert open_image(data).size == (20, 40)
    mine = Image.open(io.BytesIO(data))  # a caller's own image is rotated in a copy, never in place
    assert open_image(mine).size == (20, 40)
    assert mine.size == (40, 20) and mine.getexif()[0x0112] == 6


def test_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert open_image(data).getpixel((4, 4))[0] > 200


def test_a_photo_from_disk_and_bytes_agree():
    path = ASSETS / "chelsea.jpg"
    assert open_image(path).tobytes() == open_image(path.read_bytes()).tobytes() == open_image(str(path)).tobytes()


def test_too_many_pixels_is_refused_before_decoding():
    side = int(MAX_IMAGE_PIXELS**0.5) + 10
    data = _encode(Image.new("1", (side, side)))  # a few KB on disk, 40+ megapixels decoded
    with pytest.raises(ImageError, match=r"above the limit of 40 megapixels \(decompression bomb\?\)"):
        open_image(data)
    huge = _encode(Image.new("1", (14_000, 14_000)))  # beyond PIL's own guard, which refuses it in Image.open
    with pytest.raises(ImageError, match=r"refused, above the limit of 40 megapixels"):
        open_image(huge)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no bytes"),
        (b"GIF89a not really", "cannot be decoded|not an image file"),
        (b"plain text", "not an image file PIL can read"),
        ((ASSETS / "coffee.jpg").read_bytes()[:2000], r"cannot be decoded \(truncated or corrupt\?\)"),
    ],
)
def test_unreadable_bytes_are_one_line_image_errors(data, message):
    with pytest.raises(ImageError, match=message) as info:
        open_image(data)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageError, match="no such image file"):
        open_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: the file is empty"):
        open_image(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="expected a path, bytes or a PIL image"):
        open_image(42)
