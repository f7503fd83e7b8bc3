"""Explanation methods, faithfulness, sanity check and feature maps (effnetv2.explain).

A hand-built linear network gives each method's exact answer; the embedded Lite0 (real weights, offline) gives
the real-photo checks.
"""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from effnetv2.errors import BoundsError, MethodError, StageError
from effnetv2.explain import (
    CAM_METHODS,
    GRADIENT_METHODS,
    INPUT,
    METHODS,
    Curves,
    Perturber,
    SanityResult,
    draw,
    explain,
    explain_many,
    feature_grid,
    feature_maps,
    occlusion_window,
    sanity_check,
    score,
    spearman,
)
from effnetv2.images import open_image
from effnetv2.model import Head
from effnetv2.testing.nets import StagedNet
from effnetv2.testing.photos import FACE_BOX

SIZE = 32
CAT_LABELS = ("Egyptian cat", "tabby", "tiger cat")
W = torch.tensor([[1.0, -0.5], [-1.0, 2.0]])
"""The classifier: class 0 = red - green / 2, class 1 = 2 green - red (means over the image)."""


class LinearNet(StagedNet):
    """stem copies R and G into two channels; stage1 keeps them; head: pool + the classifier ``W`` (its conv is
    the identity). Every logit is linear in the input, so each method has a closed form."""

    def __init__(self):
        super().__init__()
        self.num_classes = 2
        self.stage_names = ["stem", "stage1", "head"]
        self.stem = nn.Conv2d(3, 2, 1, bias=False)
        self.stage1 = nn.Identity()
        self.head = Head(2, 2, 2, dropout=0.0, bn_eps=1e-3)
        self.head.conv = nn.Identity()
        with torch.no_grad():
            self.stem.weight.zero_()
            self.stem.weight[0, 0] = self.stem.weight[1, 1] = 1.0
            self.head.classifier.weight.copy_(W)
            self.head.classifier.bias.zero_()
        self.eval()


def evidence() -> torch.Tensor:
    """Red in the top-left quadrant, green (weaker) in the bottom-right, zero (the baseline) elsewhere."""
    x = torch.zeros(3, SIZE, SIZE)
    h = SIZE // 2
    x[0, :h, :h] = 2.0
    x[1, h:, h:] = 1.0
    return x


@pytest.fixture(scope="module")
def net():
    return LinearNet()


def test_method_names_are_the_five_of_the_issue():
    assert METHODS == ("gradcam", "gradcam++", "layercam", "occlusion", "ig")


@pytest.mark.parametrize("cls", [0, 1])
def test_cams_match_their_closed_forms_on_a_linear_net(net, cls):
    """At ``head`` the map A is the image's R and G, and d logit / dA = W[cls] / (h w) everywhere, so:
    Grad-CAM = relu(sum_c g_c A_c); LayerCAM = relu(sum_c relu(g_c) A_c); Grad-CAM++ weighs channel c by
    h w relu(g_c) / (2 + g_c sum(A_c))."""
    x = evidence()
    a = x[:2].double()
    g = W[cls].double() / (SIZE * SIZE)
    expected = {
        "gradcam": (g[:, None, None] * a).sum(0).clamp(min=0),
        "layercam": (g.clamp(min=0)[:, None, None] * a).sum(0).clamp(min=0),
        "gradcam++": (
            (SIZE * SIZE * g.clamp(min=0) / (2 + g * a.sum((1, 2))))[:, None, None] * a
        ).sum(0).clamp(min=0),
    }  # fmt: skip
    for method, want in expected.items():
        e = explain(net, x, method, "head", class_index=cls)
        assert e.low_res.shape == (SIZE, SIZE) and e.class_index == cls
        np.testing.assert_allclose(e.low_res, want.numpy(), rtol=1e-4, atol=1e-9, err_msg=method)
        assert want.max() > 0  # the class's evidence shows up
    # Class 0's evidence is the red quadrant only; the green quadrant counts against it.
    e = explain(net, x, "gradcam", "head", class_index=0)
    assert e.map[: SIZE // 2, : SIZE // 2].min() > 0 and e.map[SIZE // 2 :, SIZE // 2 :].max() == 0


@pytest.mark.parametrize("cls", [0, 1])
def test_integrated_gradients_of_a_linear_logit_is_input_times_weight(net, cls):
    """For a linear logit IG from a zero baseline is exact: x_i * d logit / d x_i, summed over RGB."""
    x = evidence()
    e = explain(net, x, "ig", INPUT, class_index=cls, ig_steps=8)
    want = ((W[cls, 0] * x[0] + W[cls, 1] * x[1]) / (SIZE * SIZE)).clamp(min=0)
    np.testing.assert_allclose(e.map, want.numpy(), rtol=1e-4, atol=1e-9)
    assert e.map.max() > 0


def test_occlusion_matches_windows_occluded_one_by_one(net):
    """The probability drop of each window, spread over it and averaged where windows overlap: computed here with
    one forward pass per window, independently of captum."""
    x = evidence()
    e = explain(net, x, "occlusion", INPUT, class_index=0)
    win, stride = occlusion_window(SIZE)
    total, count = torch.zeros(SIZE, SIZE), torch.zeros(SIZE, SIZE)
    with torch.no_grad():
        p = net(x[None]).softmax(1)[0, 0]
        for r in range(0, SIZE - win + 1, stride):
            for c in range(0, SIZE - win + 1, stride):
                y = x.clone()
                y[:, r : r + win, c : c + win] = 0
                total[r : r + win, c : c + win] += p - net(y[None]).softmax(1)[0, 0]
                count[r : r + win, c : c + win] += 1
    assert count.min() > 0  # the windows cover the whole side
    want = (total / count).clamp(min=0)
    np.testing.assert_allclose(e.map, want.numpy(), rtol=1e-4, atol=1e-6)
    assert e.map[:4, :4].mean() > 0 and e.map[-4:, -4:].max() == 0  # red helps class 0; green only hurts it


def test_every_method_runs_at_a_stage_and_pairs_share_their_stage(net):
    pairs = [(m, "stage1") for m in METHODS] + [("occlusion", INPUT), ("ig", INPUT)]
    results = explain_many(net, evidence(), pairs, class_index=0, labels=["red", "green"])
    assert [(e.method, e.stage) for e in results] == pairs
    for e in results:
        assert e.map.shape == (SIZE, SIZE) and np.isfinite(e.map).all() and e.map.min() >= 0
        assert e.label == "red" and 0 < e.prob < 1
        assert e.map[: SIZE // 2, : SIZE // 2].mean() > e.map[SIZE // 2 :, SIZE // 2 :].mean()
    assert draw(results[0], None).size == (SIZE, SIZE)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "gradcam+"}, MethodError, "unknown explanation method 'gradcam+'"),
        ({"method": "gradcam", "stage": INPUT}, MethodError, "gradcam needs a feature map"),
        ({"method": "layercam", "stage": "stage9"}, StageError, "no stage 'stage9'"),
        ({"method": "ig", "stage": "head", "ig_steps": 1}, BoundsError, "IG steps must be from 2 to 128"),
        ({"method": "gradcam", "class_index": 2}, BoundsError, "class must be from -1 to 1"),
        ({"method": "gradcam", "class_index": "cat"}, BoundsError, "class must be a whole number"),
    ],
)
def test_bad_requests_are_one_line(net, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)) as info:
        explain(net, evidence(), **kwargs)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------- faithfulness


def test_curves_areas_are_on_the_probability_scale():
    c = Curves((0.0, 0.5, 1.0), (0.8, 0.8, 0.8), (0.0, 0.5, 1.0))
    assert c.deletion_auc == pytest.approx(0.8) and c.insertion_auc == pytest.approx(0.5)


def test_deletion_and_insertion_follow_the_map_on_a_linear_net(net):
    """Class 0 needs the red quadrant: ranking it first deletes the class faster than chance and brings it back
    faster; the reverse ranking does worse than chance. Ends are the unchanged, filled and blurred images."""
    x = evidence()
    e = explain(net, x, "gradcam", "head", class_index=0)
    p = Perturber(net, x, 0, cell=4, steps=8)
    assert p.grid == (8, 8) and p.fractions[0] == 0 and p.fractions[-1] == 1
    good, chance = score(e, p, p.random(4)), p.random(4)
    bad = p.ranked(-e.map)
    assert good.curves.deletion[0] == pytest.approx(float(net(x[None]).detach().softmax(1)[0, 0]))
    assert good.curves.deletion[-1] == pytest.approx(0.5)  # all cells filled with 0: both logits 0
    assert good.curves.deletion_auc < chance.deletion_auc < bad.deletion_auc
    assert good.curves.insertion_auc > chance.insertion_auc > bad.insertion_auc
    d = good.to_dict()
    assert list(d) == ["method", "stage", "class", "label", "deletion_auc", "insertion_auc", "random_deletion_auc",
                       "random_insertion_auc", "seconds"]  # fmt: skip


def test_atlas_scores_every_method_and_stage_against_one_baseline(net):
    from effnetv2.explain import atlas

    shares = []
    a = atlas(net, evidence(), METHODS, [INPUT, "head"], class_index=0, cell=4, steps=4, random_orders=2,
              ig_steps=4, progress=lambda f, text: shares.append(f))  # fmt: skip
    assert [(e.method, e.stage) for e in a.explanations] == [
        ("gradcam", "head"), ("gradcam++", "head"), ("layercam", "head"), ("occlusion", INPUT),
        ("occlusion", "head"), ("ig", INPUT), ("ig", "head"),
    ]  # fmt: skip
    assert all(s.random is a.random for s in a.scores) and shares == sorted(shares) and shares[-1] == 1.0
    d = a.to_dict()
    assert d["class"] == 0 and len(d["cells"]) == 7 and len(d["fractions"]) == 5
    assert all(c["deletion_auc"] < d["random_deletion_auc"] for c in d["cells"])  # every map finds the red


def test_spearman_known_values():
    a = np.arange(10.0)
    assert spearman(a, a**3) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.zeros(10)) == 0.0  # a constant map shares no order
    assert spearman(np.array([1, 2, 2, 3.0]), np.array([1, 2, 2, 3.0])) == pytest.approx(1.0)


def test_feature_maps_pick_the_most_active_channels(net):
    x = evidence()  # mean of R = 0.5, of G = 0.25
    fm = feature_maps(net, x, "stage1", k=2)
    assert fm.channels == (0, 1) and fm.channel_count == 2 and fm.resolution == (SIZE, SIZE)
    assert fm.means == pytest.approx((0.5, 0.25))
    from PIL import Image

    grid = feature_grid(fm, Image.new("RGB", (SIZE, SIZE)), tile=32, columns=2)
    assert grid.size == (64, 32)
    with pytest.raises(StageError, match="no stage 'input'"):
        feature_maps(net, x, INPUT)
    assert set(CAM_METHODS) < set(METHODS)


# --------------------------------------------------------------------------------- real weights (embedded Lite0)


@pytest.fixture(scope="module")
def lite0():
    from effnetv2 import load_pretrained

    return load_pretrained("embedded", device="cpu")


@pytest.fixture(scope="module")
def cat(lite0):
    """Chelsea's face pasted small on gray (effnetv2.testing.photos): a localized object. (crop, input)."""
    from effnetv2.testing.photos import cat_on_gray

    crop = lite0.transform.crop(cat_on_gray())
    return crop, lite0.transform.to_tensor(crop)


def test_gradcam_on_real_weights_beats_random_cell_orders(lite0, cat):
    """Deleting the cells Grad-CAM ranks first removes the cat much faster than chance; inserting them brings it
    back much faster. "Clearly": by at least 0.1 of probability area each, on a 0-1 scale."""
    _, x = cat
    e = explain(lite0.model, x, "gradcam", labels=lite0.labels)
    assert e.stage == "stage7" and e.label in CAT_LABELS
    p = Perturber(lite0.model, x, e.class_index)
    s = score(e, p, p.random(3))
    assert s.curves.deletion_auc < s.random.deletion_auc - 0.1
    assert s.curves.insertion_auc > s.random.insertion_auc + 0.1
    face = np.zeros(e.map.shape, bool)
    x0, y0, x1, y1 = FACE_BOX
    face[y0:y1, x0:x1] = True
    assert e.map[face].mean() > 2 * e.map[~face].mean()  # the map is on the face


def test_full_randomization_breaks_every_gradient_method(lite0, cat):
    """Adebayo et al.'s cascading randomization: once the stem too is noise, no gradient method's map keeps its
    rank order (Spearman below 0.5). On the cat pasted on gray, at the last stage; IG at the input on a photo that
    fills the frame (on the gray canvas input-level IG keeps the canvas's zeros, see docs/explanations.md)."""
    _, x = cat
    r = sanity_check(lite0.model, x, GRADIENT_METHODS, "stage7", ig_steps=4)
    assert r.steps == tuple(reversed(lite0.model.stage_names))
    assert set(r.stage.values()) == {"stage7"} and r.failed == []
    for method, corr in r.correlations.items():
        assert len(corr) == len(r.steps) and corr[-1] < 0.5, (method, corr)
    with torch.no_grad():  # the randomized model was a copy: the original still answers as before
        assert not lite0.model.training and int(lite0.model(x[None]).argmax()) == r.class_index
    from effnetv2.samples import ASSETS

    photo = lite0.transform(open_image(ASSETS / "chelsea.jpg"))
    r = sanity_check(lite0.model, photo, ["ig"], ig_steps=4)
    assert r.stage == {"ig": INPUT} and r.correlations["ig"][-1] < 0.5, r.correlations


def test_a_map_that_survives_randomization_is_reported_as_failed():
    r = SanityResult({"a": "stage7", "b": "stage7"}, 0, ("head", "stem"), {"a": (0.9, 0.2), "b": (0.9, 0.5)})
    assert r.failed == ["b"] and r.to_dict()["failed"] == ["b"]


def test_feature_maps_of_a_real_stage(lite0, cat):
    crop, x = cat
    fm = feature_maps(lite0.model, x, "stage5", k=8)
    assert fm.resolution == (14, 14) and fm.channel_count == 112 and len(set(fm.channels)) == 8
    assert list(fm.means) == sorted(fm.means, reverse=True)
    assert feature_grid(fm, crop).size == (4 * 112, 2 * 112)


# ----------------------------------------------------------------------------------------------------- CLI


def test_cli_cam_metrics_json_prints_exactly_the_scores(tmp_path):
    from effnetv2.testing.hubfake import run_cli
    from effnetv2.testing.photos import cat_on_gray

    photo = tmp_path / "cat.png"
    cat_on_gray().save(photo)
    argv = ["cam", str(photo), "--checkpoint", "embedded", "--method", "gradcam++", "--stage", "stage7"]
    result = run_cli([*argv, "--metrics", "--json", "--steps", "6", "--random-orders", "2"], dict(os.environ), 300)
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert list(d) == ["method", "stage", "class", "label", "deletion_auc", "insertion_auc", "random_deletion_auc",
                       "random_insertion_auc", "seconds"]  # fmt: skip
    assert (d["method"], d["stage"]) == ("gradcam++", "stage7") and d["label"] in CAT_LABELS
    assert 0 <= d["deletion_auc"] < d["random_deletion_auc"] <= 1 and d["seconds"] > 0
    bad = run_cli([*argv[:4], "--method", "gradcam", "--stage", "input", "--metrics"], dict(os.environ))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("python -m effnetv2 cam: error:")
    assert "gradcam needs a feature map" in bad.stderr


def test_cli_explain_writes_an_overlay_per_method_and_stage_and_scores(tmp_path, capsys):
    from effnetv2.cli import main
    from effnetv2.testing.photos import cat_on_gray

    photo = tmp_path / "cat.png"
    cat_on_gray().save(photo)
    out = tmp_path / "atlas"
    argv = ["explain", str(photo), "--checkpoint", "embedded", "--out", str(out), "--quiet"]
    assert main([*argv, "--stages", "input,stage7", "--steps", "4", "--random-orders", "1", "--ig-steps", "4"]) == 0
    names = sorted(p.name for p in out.iterdir())
    want = [f"{m}_stage7.png" for m in METHODS] + ["ig_input.png", "occlusion_input.png", "scores.json"]
    assert names == sorted(want)
    scores = json.loads((out / "scores.json").read_text())
    assert len(scores["cells"]) == 7 and scores["label"] in CAT_LABELS
    assert all(0 <= c["deletion_auc"] <= 1 and 0 <= c["insertion_auc"] <= 1 for c in scores["cells"])
    capsys.readouterr()
    for extra, message in [(["--methods", "gradcam,nope"], "unknown explanation method 'nope'"),
                           (["--stages", "stage99"], "no stage 'stage99'"), (["--cell", "2"], "cell must be from 4"),
                           (["--class", "1000"], "class must be from -1 to 999")]:  # fmt: skip
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert main(["explain", str(broken), "--checkpoint", "embedded", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_explain_checks_out_before_computing_anything(tmp_path, capsys, monkeypatch):
    """An empty, dangling, file-blocked or unwritable ``--out`` is one line before any model is loaded (it was found
    after the whole atlas, with errno text; ``--out ''`` wrote into the current folder)."""
    from effnetv2 import hub
    from effnetv2.cli import main
    from effnetv2.testing.photos import cat_on_gray

    def never(*args, **kwargs):
        raise AssertionError("a model was loaded before --out was checked")

    monkeypatch.setattr(hub, "load_pretrained", never)
    photo = tmp_path / "cat.png"
    cat_on_gray().save(photo)
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    if os.geteuid() == 0:  # root writes in any folder whose mode forbids it; not in /proc
        unwritable = Path("/proc/self")
    else:
        unwritable = tmp_path / "read-only"
        unwritable.mkdir(mode=0o500)
    for out, message in [("", "--out must name a folder, got ''"),
                         (str(tmp_path / "file.txt" / "atlas"), "file.txt' is a file, not a folder"),
                         (str(tmp_path / "link"), "link' is a link to"),
                         (str(tmp_path / "link" / "atlas"), "link' is a link to"),
                         (str(unwritable / "atlas"), f"cannot write in '{unwritable}'")]:  # fmt: skip
        assert main(["explain", str(photo), "--checkpoint", "embedded", "--out", out, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Errno" not in err, (out, err)


# ------------------------------------------------------------------------------------ the app's endpoints


@pytest.fixture(scope="module")
def app_client():
    from gradio_client import Client

    from effnetv2.testing.appserver import running_app

    with running_app() as url:
        yield Client(url, verbose=False)


def test_explain_endpoints_through_the_launched_app(app_client, tmp_path):
    """/explain, /sanity and /feature_maps on the embedded Lite0; bad input is one line and the next request
    works."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    from effnetv2.testing.photos import cat_on_gray

    photo = tmp_path / "cat.png"
    cat_on_gray().save(photo)
    img = handle_file(str(photo))

    def atlas(methods=("gradcam", "layercam"), stages=("stage7",), target=-1, cell=16, steps=4, ig=4, image=img):
        return app_client.predict(image, "embedded", list(methods), list(stages), target, cell, steps, ig,
                                  api_name="/explain")  # fmt: skip

    gallery, scores, _, summary = atlas()
    assert len(gallery) == 2 and Image.open(gallery[0]["image"]).size == (224, 224)
    assert all("strongest in the" in g["caption"] and "% of the image above half its peak" in g["caption"]
               for g in gallery)  # the alt text of each map (tests/test_map_summary.py)  # fmt: skip
    rows = scores["data"]
    assert [r[:2] for r in rows] == [["gradcam", "stage7"], ["layercam", "stage7"]]
    assert all(r[2] < r[4] for r in rows)  # deletion below chance on the cat
    assert any(label in summary for label in CAT_LABELS)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for kwargs, message in [({"methods": ["nope"]}, "method must be one of"),
                            ({"stages": ["stage9"]}, "stage must be one of"),
                            ({"stages": ["stage5", "stage6", "stage7", "head"]}, "choose at most 3 stages"),
                            ({"target": 1000}, "class must be from -1 to 999"),
                            ({"steps": 99}, "curve steps must be from 2 to 20"),
                            ({"target": "5"}, "class must be a whole number from -1 to 999, got '5'"),
                            ({"steps": " 1e1 "}, "curve steps must be a whole number from 2 to 20, got ' 1e1 '"),
                            ({"cell": "16"}, "cell must be a whole number from 8 to 32, got '16'"),
                            ({"image": handle_file(str(broken))}, "")]:  # fmt: skip
        with pytest.raises(AppError) as err:
            atlas(**kwargs)
        text = str(err.value).strip()
        assert message in text and "\n" not in text and "Traceback" not in text and str(tmp_path) not in text
    assert len(atlas(methods=["gradcam"])[0]) == 1  # the next request works

    _, verdict = app_client.predict(img, "embedded", ["gradcam"], "stage7", -1, api_name="/sanity")
    assert "gradcam" in verdict and ("passed" in verdict or "failed" in verdict)
    grid, caption = app_client.predict(img, "embedded", "stage5", 8, api_name="/feature_maps")
    assert "112 channels at 14x14" in caption and Image.open(grid).size == (448, 224)
    with pytest.raises(AppError, match="channels must be from 1 to 32"):
        app_client.predict(img, "embedded", "stage5", 99, api_name="/feature_maps")
    with pytest.raises(AppError, match="channels must be a whole number from 1 to 32, got '8'"):
        app_client.predict(img, "embedded", "stage5", "8", api_name="/feature_maps")
    with pytest.raises(AppError, match="class must be a whole number from -1 to 999, got '-1'"):
        app_client.predict(img, "embedded", ["gradcam"], "stage7", "-1", api_name="/sanity")
