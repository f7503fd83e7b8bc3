"""open_image: every PIL mode to RGB, EXIF orientation, first frame, white behind transparency, clear refusals."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from effnetv2 import MAX_IMAGE_PIXELS, ImageError, open_image, preprocess
from effnetv2.checkpoints import CHECKPOINTS
from effnetv2.preprocess import EvalTransform
from effnetv2.testing import hostile
from effnetv2.testing.hubfake import ROOT, run_python

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


# --- hostile files (issue #15): elongated strips, PNG chunk bombs, float images with NaN/inf ----------------


@pytest.mark.parametrize("case", [c for c in hostile.CASES if c.refusal], ids=lambda c: c.name)
def test_hostile_files_are_refused_in_one_line_before_the_pixels(case):
    with pytest.raises(ImageError, match=case.refusal) as info:
        open_image(case.make())
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert open_image(ASSETS / "chelsea.jpg").size == (451, 300)  # the next good image is read


@pytest.mark.parametrize(("w", "h"), [(10_000, 1), (1, 10_000), (1001, 1), (1, 1001), (40_000_000, 1), (3, 4000)])
def test_aspect_ratio_above_the_bound_is_refused_in_both_orientations(w, h):
    with pytest.raises(ImageError, match=rf"{w}x{h} has an aspect ratio of \d+:1, above the limit of 1000:1"):
        open_image(hostile.png(w, h))


@pytest.mark.parametrize(("w", "h"), [(1000, 1), (1, 1000), (2000, 2), (2, 2000)])
def test_aspect_ratio_at_the_bound_is_read_and_cropped(w, h):
    transform = EvalTransform(CHECKPOINTS["tf_efficientnetv2_b0.in1k"].test)
    image = open_image(hostile.png(w, h))
    assert image.size == (w, h)
    assert transform(image).shape == (3, 224, 224)


def test_a_strip_within_the_bounds_is_resized_in_a_window_with_bounded_memory():
    """The full resize of these strips to a 256 px short side is 196 MB each; the window is 150 kB."""
    code = (
        "import resource\n"
        "from effnetv2 import open_image\n"
        "from effnetv2.checkpoints import CHECKPOINTS\n"
        "from effnetv2.preprocess import EvalTransform\n"
        "from effnetv2.testing.hostile import png\n"
        "t = EvalTransform(CHECKPOINTS['tf_efficientnetv2_b0.in1k'].test)\n"
        "files = [png(1000, 1), png(1, 1000), png(2, 2000)]\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "shapes = [tuple(t(open_image(f)).shape) for f in files]\n"
        "print(shapes, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    result = run_python(code, {**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    shapes, grown_mb = result.stdout.strip().rsplit(" ", 1)
    assert shapes == "[(3, 224, 224), (3, 224, 224), (3, 224, 224)]"
    assert int(grown_mb) < 64


@pytest.mark.parametrize("size", [(300, 1000), (1000, 300), (2200, 40)])
def test_the_window_resize_is_the_full_resize_within_two_levels(monkeypatch, size):
    transform = EvalTransform(CHECKPOINTS["tf_efficientnetv2_b0.in1k"].test)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    full = np.asarray(transform.crop(image), dtype=int)
    monkeypatch.setattr(preprocess, "MAX_RESIZED_PIXELS", 0)
    window = np.asarray(transform.crop(image), dtype=int)
    assert window.shape == full.shape == (224, 224, 3)
    assert np.abs(window - full).max() <= 2


def test_a_wide_image_keeps_its_center_in_the_window(monkeypatch):
    """A bright column in the middle of a 40:1 image lands in the middle of the crop, as with the full resize."""
    a = np.zeros((50, 2000, 3), dtype=np.uint8)
    a[:, 995:1005] = 255
    transform = EvalTransform(CHECKPOINTS["tf_efficientnetv2_b0.in1k"].test)
    monkeypatch.setattr(preprocess, "MAX_RESIZED_PIXELS", 0)
    row = np.asarray(transform.crop(Image.fromarray(a)))[112, :, 0]
    assert row[112] > 200 and row[10] < 10 and row[-10] < 10


@pytest.mark.parametrize("special", [float("nan"), float("inf"), float("-inf")])
def test_float_images_with_non_finite_pixels_are_refused(special):
    """The rule: no grey means "no value", so a float image with NaN or +-inf is refused (it once became black)."""
    with pytest.raises(ImageError, match=r"1 of 1024 pixels are NaN or infinite"):
        open_image(hostile.float_tiff(special))
    pil = Image.fromarray(np.array([[0.0, special, 1.0]], dtype=np.float32), mode="F")
    with pytest.raises(ImageError, match=r"1 of 3 pixels are NaN or infinite"):
        open_image(pil)
    finite = np.asarray(open_image(hostile.float_tiff()))  # the same file without them: a grey gradient
    assert finite[0, 0, 0] == 0 and finite[-1, -1, 0] == 255


@pytest.mark.parametrize("kind", ["zTXt", "iTXt", "iCCP"])
def test_chunk_bombs_name_the_file(tmp_path, kind):
    path = tmp_path / f"bomb-{kind}.png"
    path.write_bytes(hostile.png(4, 4, before_idat=(hostile.text_bomb(kind),)))
    with pytest.raises(ImageError, match=rf"bomb-{kind}\.png: refused, a compressed text or ICC chunk"):
        open_image(path)
    small = hostile.png(4, 4, before_idat=(hostile.text_bomb(kind, decompressed=1000),))  # a normal chunk
    assert open_image(small).size == (4, 4)
