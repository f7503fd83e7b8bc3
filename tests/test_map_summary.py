"""Alt text of the heat maps: where a map is strongest and how concentrated, measured on the map itself."""

import math

import numpy as np
import pytest
from PIL import Image

from effnetv2.backend import alt_text, classify
from effnetv2.map_summary import summarize
from effnetv2.samples import ASSETS

LITE0 = "tf_efficientnet_lite0.embedded"


def blob(h: int, w: int, cy: float, cx: float, sigma: float) -> np.ndarray:
    ys, xs = np.indices((h, w))
    return np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize(
    ("cy", "cx", "region"),
    [(0.1, 0.1, "upper_left"), (0.85, 0.5, "lower_centre"), (0.5, 0.5, "centre"), (0.5, 0.9, "centre_right")],
)
def test_a_blob_is_placed_in_its_third_and_its_share_is_its_half_peak_disc(cy, cx, region):
    h, w, sigma = 200, 300, 12.0
    s = summarize(blob(h, w, cy * h, cx * w, sigma))
    assert s.region == region and not s.empty
    half_peak_disc = math.pi * 2 * math.log(2) * sigma**2 / (h * w)  # radius sigma * sqrt(2 ln 2)
    assert s.share == pytest.approx(half_peak_disc, rel=0.05)


def test_negative_and_non_finite_values_count_as_nothing():
    m = -blob(60, 60, 10, 10, 5) + 0.5 * blob(60, 60, 50, 50, 5)
    m[0, :3] = [np.nan, np.inf, -np.inf]
    assert summarize(m).region == "lower_right"
    assert summarize(np.zeros((7, 7))).empty and summarize(-np.ones((7, 7))).empty
    assert summarize(np.ones((4, 4))).share == 1.0  # evenly spread: every pixel at its peak
    with pytest.raises(ValueError, match="2-D"):
        summarize(np.zeros((3, 4, 4)))


def test_the_words_in_both_languages():
    m = blob(90, 90, 80, 45, 6)
    en = alt_text.map_alt(m, "Grad-CAM", "tabby", "head", "en")
    zh = alt_text.map_alt(m, "Grad-CAM", "tabby", "head", "zh-CN")
    share = f"{summarize(m).share:.0%}"
    where = f"strongest in the lower centre, {share} of the image above half its peak"
    assert en == f"Grad-CAM map of tabby at head: {where}"
    assert "下方正中" in zh and share in zh and "tabby" in zh
    assert "empty" in alt_text.map_where(np.zeros((5, 5)), "en")


def _on_canvas(name: str, top: bool, path) -> str:
    """The sample photo in the top or bottom half of a grey square, centred across: where its object now is."""
    photo = Image.open(ASSETS / name).convert("RGB")
    side = 672
    photo.thumbnail((side, side // 2))
    canvas = Image.new("RGB", (side, side), (124, 116, 104))
    canvas.paste(photo, ((side - photo.width) // 2, 0 if top else side - photo.height))
    canvas.save(path)
    return str(path)


@pytest.mark.parametrize("name", ["chelsea.jpg", "coffee.jpg"])
def test_the_lite0_map_follows_the_photo_up_and_down(name, tmp_path):
    """Lite0's Grad-CAM of its own top-1 class moves down with the photo: above the lower third while the photo
    fills the canvas's top half, below the upper third when it fills the bottom half (the grey half holds no
    evidence; the middle third straddles both halves, so a peak near the photo's edge may land there)."""
    rows = {}
    for top in (True, False):
        r = classify.gradcam(_on_canvas(name, top, tmp_path / f"{top}.jpg"), LITE0, "head", -1, 0.5, "jet", "en")
        rows[top] = summarize(r.cam.maps[0]).row
        assert r.alt == alt_text.map_alt(r.cam.maps[0], "Grad-CAM", r.cam.labels[0], "head", "en")
    assert rows[True] < rows[False] and rows[True] != 2 and rows[False] != 0, rows


def test_the_rocket_stands_in_the_middle_column():
    """rocket.jpg: the launch vehicle stands upright in the middle of the frame (assets/CREDITS.md)."""
    for stage in ("stage7", "head"):
        r = classify.gradcam(str(ASSETS / "rocket.jpg"), LITE0, stage, -1, 0.5, "jet", "zh-CN")
        assert summarize(r.cam.maps[0]).column == 1, r.alt
        assert "热力图" in r.alt and "%" in r.alt


def test_the_last_alt_text_of_each_session_is_read_once_and_old_sessions_drop_out():
    last = alt_text.LastAlt(size=2)
    last.put("a", "first")
    last.put("a", "second")
    last.put("b", "b's")
    last.put("c", "c's")  # "a" is the oldest session: it drops out
    assert (last.pop("a"), last.pop("b"), last.pop("b"), last.pop("c")) == ("", "b's", "", "c's")
