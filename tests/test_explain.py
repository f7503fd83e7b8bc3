"""Explanation methods, faithfulness, sanity check and feature maps (effnetv2.explain).

A hand-built linear network gives each method's exact answer; the embedded Lite0 (real weights, offline) gives
the real-photo checks.
"""

import re

import numpy as np
import pytest
import torch
from torch import nn

from effnetv2.errors import BoundsError, MethodError, StageError
from effnetv2.explain import (
    CAM_METHODS,
    INPUT,
    METHODS,
    Curves,
    Perturber,
    draw,
    explain,
    explain_many,
    feature_grid,
    feature_maps,
    occlusion_window,
    score,
    spearman,
)
from effnetv2.model import Head
from effnetv2.testing.nets import StagedNet

SIZE = 32
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
