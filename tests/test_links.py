"""Links that reopen an analysis (effnetv2.backend.links): the query a tab's controls make, and reading it back."""

import shutil
from urllib.parse import parse_qsl

from effnetv2.backend import classify, explain, links
from effnetv2.samples import ASSETS


def _params(query: str) -> dict[str, str]:
    assert query.startswith("?")
    return dict(parse_qsl(query[1:]))


def test_each_tabs_link_reads_back_as_its_controls():
    cases = {
        "classify": {"ckpt": "tf_efficientnet_lite0.embedded", "photo": "rocket.jpg", "topk": 3, "path": "fp32",
                     "stage": "stage5", "class": 281},
        "explain": {"ckpt": "tf_efficientnet_lite0.embedded", "photo": "chelsea.jpg", "methods": ["gradcam", "ig"],
                    "stages": ["stage5", "head"], "class": -1},
        "lab": {"model": "efficientnet_b4", "blocks": "FFFMMMM", "size": 192},
    }  # fmt: skip
    for tab, values in cases.items():
        link = links.read(_params(links.query(tab, values)))
        assert link.tab == tab and not link.skipped, link
        expected = {**values, **({"photo": str(ASSETS / values["photo"])} if "photo" in values else {})}
        assert link.values == expected


def test_a_photo_is_named_by_its_bytes_not_its_file_name(tmp_path):
    copy = tmp_path / "IMG_0001.jpg"
    shutil.copy(ASSETS / "coffee.jpg", copy)
    assert links.photo_name(copy) == "coffee.jpg"  # an upload of a sample photo travels
    impostor = tmp_path / "chelsea.jpg"
    impostor.write_bytes((ASSETS / "chelsea.jpg").read_bytes()[:-10])
    assert links.photo_name(impostor) is None  # a photo of its own does not, whatever its name
    assert links.photo_name(tmp_path / "missing.jpg") is None and links.photo_name(None) is None


def test_a_link_opens_what_fits_and_names_what_it_left_out():
    link = links.read(
        {"tab": "explain", "lang": "fr", "ckpt": "nope", "photo": "../../etc/passwd", "methods": "gradcam,zzz",
         "stages": "stage5,head", "class": "1000"}
    )  # fmt: skip
    assert link.tab == "explain" and link.lang is None
    assert link.values == {"stages": ["stage5", "head"]}  # checked against the page's own checkpoint
    skipped = dict(s.split("=", 1)[0:2] for s in link.skipped)
    assert set(skipped) == {"lang", "ckpt", "photo", "methods", "class"}
    assert all("\n" not in s for s in link.skipped)
    assert "sample photo" in next(s for s in link.skipped if s.startswith("photo="))


def test_a_stage_is_checked_against_the_links_own_checkpoint():
    lite = "tf_efficientnet_lite0.embedded"
    assert "stage7" in classify.cam_choices(lite) and "stage7" in explain.stage_choices(lite)
    link = links.read({"tab": "classify", "ckpt": lite, "stage": "stage7"}, "tf_efficientnetv2_s.in21k_ft_in1k")
    assert link.values == {"ckpt": lite, "stage": "stage7"} and not link.skipped
    link = links.read({"tab": "classify", "stage": "stage7"}, "tf_efficientnetv2_s.in21k_ft_in1k")  # V2-S: 6 stages
    assert link.values == {} and link.skipped[0].startswith("stage=")


def test_tab_and_language_alone_and_keys_of_another_tab():
    link = links.read({"tab": "walkthrough", "lang": "zh-CN", "model": "efficientnet_b4"})
    assert (link.tab, link.lang, link.values, link.skipped) == ("walkthrough", "zh-CN", {}, ())
    assert links.read({"tab": "nowhere"}).tab is None
    lab = links.read({"tab": "lab", "model": "efficientnet_b4", "blocks": "FFF", "size": "9999"})
    assert lab.values == {"model": "efficientnet_b4"} and len(lab.skipped) == 2
