"""Every kind of bad input, through the launched app (gradio_client) and the CLI: each one gets a correct result
or one clear line, and the very next good request succeeds.

The files are made here from a real photo: broken ones (empty, text named .jpg, truncated JPEG and PNG, a PNG
declaring 30000x30000 pixels) and odd but valid ones (1x1, 4000x10, 16-bit, CMYK, palette with transparency,
greyscale, animated GIF, EXIF-rotated). A valid one must give the library's own answer for that file.
"""

from __future__ import annotations

import io
import json
import os
import re
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

from effnetv2 import costs
from effnetv2.cli import main
from effnetv2.testing import hostile
from effnetv2.testing.appserver import (  # GRADIO_TEMP_DIR
    PHOTO,
    TEST_CHECKPOINT,
    expected_labels,
    labels,
    one_line,
    running_app,
)
from effnetv2.testing.hubfake import ROOT, run_cli


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


def _classify_outcome(client: Client, path) -> tuple[str | None, list[str]]:
    """/classify of ``path``: (its one-line error, []) or (None, the top labels, with a timing text beside them)."""
    try:
        label, timing, _ = _classify(client, path)
    except AppError as err:
        return one_line(err), []
    assert "ms" in timing
    return None, labels(label)


# -- the launched app --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_app_classify_gives_a_result_or_one_line_then_serves_the_next(client, files, case):
    path = files[case.name]
    error, got = _classify_outcome(client, path)
    if case.error:
        assert error is not None and case.error in error
    else:
        assert error is None and got == expected_labels(case.same_as or path)
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


LATENCY = ("efficientnetv2_b0", "", 64, 1, 2, "cpu", "fp32", "1", "en")  # model, blocks, size, batch, runs, ...
COMPARE = ("efficientnetv2_b0", "MMMMMM", 64, 1, 1, False, "1", "en")  # model, blocks, size, batch, runs, ...


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
        ("/compare", COMPARE, 4, 1_000_000, "greater than maximum value 100"),  # the Lab's rounds
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


def _predict_json(checkpoint: Path, images: list[str], capsys) -> tuple[int, list[dict], list[str]]:
    """``predict --json`` over ``images`` in-process: exit status, the JSON results, the stderr lines (asserted
    free of tracebacks)."""
    argv = ["predict", "--checkpoint", "b0", "--weights", str(checkpoint), "--topk", "3", "--json"]
    code = main([*argv, *images])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, json.loads(captured.out), captured.err.strip().splitlines()


def test_cli_predict_reports_each_bad_file_in_one_line_and_classifies_the_rest(hf_cache, b0_checkpoint, files, capsys):
    """One run over every file, a good photo after each: bad files do not cost the others their results."""
    images = [str(p) for name in IDS for p in (files[name], PHOTO)]
    code, results, errors = _predict_json(b0_checkpoint, images, capsys)
    bad = [c for c in CASES if c.error]
    assert code == 2 and len(errors) == len(bad)
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


# -- hostile files and costly requests (issue #15) ----------------------------------------------------------------

HOSTILE = [c for c in hostile.CASES if c.name != "wide_200000x200"]  # the 40 MP one: tests/test_images.py
HOSTILE_IDS = [c.name for c in HOSTILE]


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, Path]:
    """Each hostile case written once, named after its case (the refusals must name the file)."""
    folder = tmp_path_factory.mktemp("hostile")
    paths = {case.name: folder / f"{case.name}{case.suffix}" for case in HOSTILE}
    for case in HOSTILE:
        paths[case.name].write_bytes(case.make())
    return paths


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE_IDS)
def test_app_classify_refuses_hostile_files_in_one_line_then_serves_the_next(client, hostile_files, case):
    """Issue #15: a 114-byte 10000x1 PNG took 2.3 GB; 40,000,000x1 gave Gradio's generic error."""
    path = hostile_files[case.name]
    error, got = _classify_outcome(client, path)
    if case.refusal:
        assert error is not None and re.search(case.refusal, error) and path.name in error, error
    else:  # within the bounds: the library's own answer, from a bounded resize
        assert error is None and got == expected_labels(path)
    label, _, _ = _classify(client, PHOTO)  # the very next good request
    assert labels(label) == expected_labels(PHOTO)


@pytest.mark.parametrize("name", ["wide_10000x1", "tall_1x10000", "ztxt_bomb", "float_nan"])
def test_app_gradcam_refuses_hostile_files_in_one_line(client, hostile_files, name):
    args = (TEST_CHECKPOINT, "stage6", -1, 0.5, "jet")
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(hostile_files[name])), *args, api_name="/gradcam")
    assert re.search(hostile.case(name).refusal, one_line(err.value))
    overlay, _, _ = client.predict(handle_file(str(PHOTO)), *args, api_name="/gradcam")
    assert Image.open(overlay).size == (224, 224)


@pytest.mark.parametrize(
    ("api", "args", "advice"),
    [  # issue #15: about an hour of the torch slot; about 18 GB and a "smaller batch" that cannot be chosen
        ("/latency", ("efficientnet_b7", "", 640, 16, 30, "cpu", "fp32", "1", "en"), r"choose (runs|batch)"),
        ("/compare", ("efficientnet_b7", "FFFMMMM", 448, 1, 1, True, "1", "en"), r"turn training off"),
        ("/compare", ("efficientnet_b7", "FFFMMMM", 640, 1, 1, True, "1", "en"), r"turn training off"),
    ],
)
def test_app_refuses_costly_requests_before_running_then_serves_the_next(client, api, args, advice, monkeypatch):
    monkeypatch.setitem(costs.MACS_PER_S, "cuda", costs.MACS_PER_S["cpu"])  # the Lab uses CUDA where there is one
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api)
    line = one_line(err.value)
    assert re.search(r"(needs about [\d.]+ [GM]B|would take about \d+ s) at \d+ px", line), line
    assert " allowed here" in line and re.search(advice, line), line
    assert "smaller batch" not in line
    base = LATENCY if api == "/latency" else COMPARE
    assert client.predict(*base, api_name=api)[0]


def test_cli_predict_reports_hostile_files_in_one_line_each_and_goes_on(hf_cache, b0_checkpoint, hostile_files, capsys):
    """Issue #15: a chunk bomb stopped the run with a line that did not name the file, and --json printed nothing."""
    images = [str(p) for name in HOSTILE_IDS for p in (hostile_files[name], PHOTO)]
    code, results, errors = _predict_json(b0_checkpoint, images, capsys)
    refused = [c for c in HOSTILE if c.refusal]
    assert code == 2 and len(errors) == len(refused)
    assert [r["image"] for r in results] == images
    for i, case in enumerate(HOSTILE):
        got, after = results[2 * i], results[2 * i + 1]
        if case.refusal:
            name = hostile_files[case.name].name
            assert got["error"].startswith(f"{name}: ") and re.search(case.refusal, got["error"]) and "top" not in got
            assert sum(line.startswith(f"python -m effnetv2 predict: error: {name}: ") for line in errors) == 1
        else:
            assert [p["label"] for p in got["top"]] == expected_labels(hostile_files[case.name])
        assert [p["label"] for p in after["top"]] == expected_labels(PHOTO)


def test_cli_subprocess_prints_json_for_every_file_after_the_40_megapixel_strip(b0_checkpoint, hostile_files):
    """The route where the issue found it: the CLI process printed a raw traceback, exited 1 and no JSON."""
    strip, bomb = hostile_files["wide_40000000x1"], hostile_files["ztxt_bomb"]
    argv = [
        "predict",
        "--checkpoint",
        "b0",
        "--weights",
        str(b0_checkpoint),
        "--json",
        str(strip),
        str(bomb),
        str(PHOTO),
    ]
    result = run_cli(argv, {**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 2 and strip.name in lines[0] and bomb.name in lines[1]
    out = json.loads(result.stdout)
    assert [r["image"] for r in out] == [str(strip), str(bomb), str(PHOTO)]
    assert "aspect ratio" in out[0]["error"] and "chunk bomb" in out[1]["error"] and len(out[2]["top"]) == 5


def test_cli_predict_json_names_every_file_when_the_checkpoint_cannot_load(tmp_path, capsys):
    argv = ["predict", "--checkpoint", "b0", "--weights", str(tmp_path / "missing.safetensors"), "--json"]
    code = _run_cli([*argv, str(PHOTO), str(PHOTO)])
    captured = capsys.readouterr()
    assert code == 2 and len(captured.err.strip().splitlines()) == 1
    out = json.loads(captured.out)
    assert [r["image"] for r in out] == [str(PHOTO)] * 2 and all(r["error"] for r in out)
