"""Every kind of bad input, through the launched app (gradio_client) and the CLI: each one gets a correct result
or one clear line, and the very next good request succeeds.

The files are made here from a real photo: broken ones (empty, text named .jpg, truncated JPEG and PNG, a PNG
declaring 30000x30000 pixels) and odd but valid ones (1x1, 4000x10, 16-bit, CMYK, palette with transparency,
greyscale, animated GIF, EXIF-rotated). A valid one must give the library's own answer for that file.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from effnetv2.cli import main
from effnetv2.testing.appserver import (  # GRADIO_TEMP_DIR
    PHOTO,
    TEST_CHECKPOINT,
    expected_labels,
    labels,
    one_line,
    running_app,
)


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo() -> Image.Image:
    return Image.open(PHOTO).convert("RGB")


def _png_declaring(width: int, height: int) -> bytes:
    """A 100-byte PNG whose header declares ``width`` x ``height`` pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _sixteen_bit() -> bytes:
    grey = np.asarray(_photo().convert("L"), dtype="<u2") * 257
    return _encode(Image.frombytes("I;16", (grey.shape[1], grey.shape[0]), grey.tobytes()), "PNG")


def _palette_with_transparency() -> bytes:
    return _encode(_photo().convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)


def _animated_gif() -> bytes:
    photo = _photo()
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), photo.convert("L").convert("RGB")]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


def _exif_rotated() -> bytes:
    """The photo stored on its side plus the EXIF tag that turns it upright again (as phones save photos), lossless."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return _encode(_photo().transpose(Image.Transpose.ROTATE_90), "PNG", exif=exif.tobytes())


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    error: str | None = None
    """The message the user must see; None: the file must be classified like the library classifies it."""
    same_as: Path | None = None
    """A file that must give exactly the same answer (the EXIF-rotated photo and the upright one)."""


CASES = [
    Case("empty.jpg", lambda: b"", "empty.jpg: the file is empty"),
    Case("text.jpg", lambda: b"this is not a photo\n" * 20, "text.jpg: not an image file PIL can read"),
    Case(
        "truncated.jpg", lambda: PHOTO.read_bytes()[:4000], "truncated.jpg: cannot be decoded (truncated or corrupt?)"
    ),
    Case(
        "truncated.png",
        lambda: _encode(_photo(), "PNG")[:20_000],
        "truncated.png: cannot be decoded (truncated or corrupt?)",
    ),
    Case("bomb.png", lambda: _png_declaring(30_000, 30_000), "bomb.png: refused, above the limit of 40 megapixels"),
    Case("one_pixel.png", lambda: _encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG")),
    Case("4000x10.png", lambda: _encode(_photo().resize((4000, 10)), "PNG")),
    Case("sixteen_bit.png", _sixteen_bit),
    Case("cmyk.jpg", lambda: _encode(_photo().convert("CMYK"), "JPEG", quality=95)),
    Case("palette_transparent.png", _palette_with_transparency),
    Case("grey.png", lambda: _encode(_photo().convert("L"), "PNG")),
    Case("animated.gif", _animated_gif),
    Case("exif_rotated.png", _exif_rotated, same_as=PHOTO),
]
IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    out = {}
    for case in CASES:
        out[case.name] = folder / case.name
        out[case.name].write_bytes(case.make())
    return out


@pytest.fixture(scope="module")
def client(hf_cache):
    with running_app() as url:
        yield Client(url, verbose=False)


def _classify(client: Client, path, topk=3, checkpoint=TEST_CHECKPOINT, path_kind="plain"):
    image = handle_file(str(path)) if path is not None else None
    return client.predict(image, checkpoint, topk, path_kind, api_name="/classify")


# -- the launched app --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_app_classify_gives_a_result_or_one_line_then_serves_the_next(client, files, case):
    path = files[case.name]
    if case.error:
        with pytest.raises(AppError) as err:
            _classify(client, path)
        assert case.error in one_line(err.value)
    else:
        label, timing, _ = _classify(client, path)
        assert labels(label) == expected_labels(case.same_as or path) and "ms" in timing
    label, _, _ = _classify(client, PHOTO)  # the very next good request
    assert labels(label) == expected_labels(PHOTO)


@pytest.mark.parametrize("name", ["text.jpg", "truncated.png", "bomb.png", "animated.gif"])
def test_app_gradcam_gives_a_result_orone_line(client, files, name):
    case = CASES[IDS.index(name)]
    args = (TEST_CHECKPOINT, "stage6", -1, 0.5, "jet")
    if case.error:
        with pytest.raises(AppError) as err:
            client.predict(handle_file(str(files[name])), *args, api_name="/gradcam")
        assert case.error in one_line(err.value)
    else:
        overlay, crop, caption = client.predict(handle_file(str(files[name])), *args, api_name="/gradcam")
        assert Image.open(overlay).size == Image.open(crop).size == (224, 224) and "Grad-CAM" in caption
    overlay, _, _ = client.predict(handle_file(str(PHOTO)), *args, api_name="/gradcam")
    assert Image.open(overlay).size == (224, 224)


LATENCY = ("efficientnetv2_b0", "", 64, 1, 2, "cpu", "fp32", "en")  # model, blocks, size, batch, runs, ...
COMPARE = ("efficientnetv2_b0", "MMMMMM", 64, 1, 1, False, "en")  # model, blocks, size, batch, runs, ...


@pytest.mark.parametrize(
    ("api", "base", "index", "value", "message"),
    [
        ("/classify", None, 2, 0, "top-k must be from 1 to 10, got 0"),
        ("/classify", None, 2, 11, "top-k must be from 1 to 10, got 11"),
        ("/classify", None, 2, 2.5, "top-k must be a whole number from 1 to 10, got 2.5"),
        ("/classify", None, 2, "three", "top-k must be a whole number from 1 to 10, got 'three'"),
        ("/classify", None, 1, "tf_efficientnetv2_q", "unknown checkpoint 'tf_efficientnetv2_q'"),
        ("/classify", None, 1, "../../etc/passwd", "unknown checkpoint '../../etc/passwd'"),
        ("/gradcam", None, 4, 1.5, "opacity must be from 0.0 to 1.0, got 1.5"),
        ("/gradcam", None, 3, 1000, "class must be from -1 to 999, got 1000"),
        ("/latency", LATENCY, 2, 16, "less than minimum value 32"),  # image size: the slider's own bound
        ("/latency", LATENCY, 2, 100_000, "greater than maximum value 640"),
        ("/latency", LATENCY, 3, 0, "less than minimum value 1"),  # batch
        ("/latency", LATENCY, 3, 10_000, "greater than maximum value 16"),
        ("/latency", LATENCY, 4, 0, "less than minimum value 1"),  # runs
        ("/latency", LATENCY, 4, 1_000_000, "greater than maximum value 30"),
        ("/latency", LATENCY, 1, "FFFMMX", "must be 6 letters"),  # blocks
        ("/latency", LATENCY, 0, "efficientnetv2_q", "not in the list of choices"),
        ("/compare", COMPARE, 1, "FFFFFFFFFFFFFFFFFFFF", "must be 6 letters"),
        ("/compare", COMPARE, 1, "rm -rf /; $(reboot)", "must be 6 letters"),
        ("/compare", COMPARE, 2, 100_000, "greater than maximum value"),
        ("/compare", COMPARE, 3, 10_000, "greater than maximum value 16"),
        ("/compare", COMPARE, 4, 1_000_000, "greater than maximum value 30"),
    ],
)
def test_out_of_range_controls_get_one_line_then_the_next_request_works(client, api, base, index, value, message):
    if base is None:  # the image endpoints: image, checkpoint, then their own controls
        base = (
            (handle_file(str(PHOTO)), TEST_CHECKPOINT, 3, "plain")
            if api == "/classify"
            else (handle_file(str(PHOTO)), TEST_CHECKPOINT, "stage6", -1, 0.5, "jet")
        )
    args = list(base)
    args[index] = value
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api)
    assert message in one_line(err.value)
    if base is LATENCY or base is COMPARE:
        assert client.predict(*base, api_name=api)[0]  # the unchanged request works
    else:
        assert client.predict(*[handle_file(str(PHOTO)) if i == 0 else a for i, a in enumerate(base)], api_name=api)


def test_no_image_isone_line(client):
    with pytest.raises(AppError) as err:
        _classify(client, None)
    assert "no image: upload one, paste one or pick an example" in one_line(err.value)
    assert labels(_classify(client, PHOTO)[0]) == expected_labels(PHOTO)


# -- the CLI -----------------------------------------------------------------------------------------------------


def test_cli_predict_reports_each_bad_file_in_one_line_and_classifies_the_rest(b0_checkpoint, files, capsys):
    """One run over every file, a good photo after each: bad files do not cost the others their results."""
    argv = ["predict", "--checkpoint", "b0", "--weights", str(b0_checkpoint), "--topk", "3", "--json"]
    images = [str(p) for name in IDS for p in (files[name], PHOTO)]
    code = main([*argv, *images])
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    errors = captured.err.strip().splitlines()
    bad = [c for c in CASES if c.error]
    assert code == 2 and len(errors) == len(bad) and "Traceback" not in captured.err
    for line, case in zip(errors, bad, strict=True):
        assert line.startswith("python -m effnetv2 predict: error: ") and case.error in line
    assert [r["image"] for r in results] == images
    for i, case in enumerate(CASES):
        got, after = results[2 * i], results[2 * i + 1]
        if case.error:
            assert case.error in got["error"] and "top" not in got
        else:
            assert [p["label"] for p in got["top"]] == expected_labels(case.same_as or files[case.name])
        assert [p["label"] for p in after["top"]] == expected_labels(PHOTO)


def _run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own checks exit
        return exc.code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "--topk", "0"], "--topk: expected a number of at least 1, got 0"),
        (["predict", "--topk", "1001"], "from 1 to 1000, got 1001"),
        (["predict", "--checkpoint", "tf_efficientnetv2_q"], "unknown checkpoint 'tf_efficientnetv2_q'"),
        (["predict", "--checkpoint", "b0; rm -rf ~"], "unknown checkpoint 'b0; rm -rf ~'"),
        (["bench", "efficientnetv2_b0", "--blocks", "FFX"], "must be 6 letters"),
        (["bench", "efficientnetv2_b0", "--runs", "100000"], "runs must be from 1 to 200, got 100000"),
        (["bench", "efficientnetv2_b0", "--batch", "100000"], "batch must be from 1 to 64, got 100000"),
        (["bench", "efficientnetv2_b0", "--image-size", "100000"], "image size must be from 32 to 1024"),
        (["bench", "efficientnetv2_b0", "--image-size", "-5"], "--image-size: expected a number of at least 1"),
        (["info", "efficientnetv2_q"], "unknown model 'efficientnetv2_q'"),
        (["compare", "efficientnetv2_b0", "--blocks", "ZZZZZZ"], "must be 6 letters"),
    ],
)
def test_cli_bad_options_areone_line(argv, message, b0_checkpoint, capsys):
    if argv[0] == "predict":
        argv = ["predict", "--checkpoint", "b0", *argv[1:], "--weights", str(b0_checkpoint), str(PHOTO)]
    code = _run_cli(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert ": error: " in err and message in err, err
