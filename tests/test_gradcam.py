import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from effnetv2 import create_model
from effnetv2.errors import StageError
from effnetv2.gradcam import _HeadClassifier, cam_targets, grad_cam, normalize, overlay
from effnetv2.model import Head
from effnetv2.testing.reference import calibrate_bn

SIZE = 32


class TinyNet(nn.Module):
    """A hand-built net with a known answer: class 0 reads the red channel, class 1 the green one.

    stem: 1x1 conv copying R and G; stage1: 3x3 stride-2 mean filter per channel (linear, so negatives
    survive); stage2: ReLU, in place or not; head: identity 1x1 conv + BN, pool, identity classifier.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.num_classes = 2
        self.stage_names = ["stem", "stage1", "stage2", "head"]
        self.stem = nn.Conv2d(3, 2, 1, bias=False)
        self.stage1 = nn.Conv2d(2, 2, 3, 2, padding=1, groups=2, bias=False)
        self.stage2 = nn.ReLU(inplace=inplace)
        self.head = Head(2, 2, 2, dropout=0.0, bn_eps=1e-3)
        with torch.no_grad():
            self.stem.weight.zero_()
            self.stem.weight[0, 0] = self.stem.weight[1, 1] = 1.0
            self.stage1.weight.fill_(1 / 9)
            self.head.conv.conv.weight.copy_(torch.eye(2)[:, :, None, None])
            self.head.classifier.weight.copy_(torch.eye(2))
            self.head.classifier.bias.zero_()
        self.eval()

    def stages(self):
        return [(n, getattr(self, n)) for n in self.stage_names]

    def forward(self, x):
        for _, m in self.stages():
            x = m(x)
        return x


def evidence() -> torch.Tensor:
    """Red evidence in the top-left quadrant, (weaker) green in the bottom-right, -0.5 elsewhere."""
    x = torch.full((3, SIZE, SIZE), -0.5)
    h = SIZE // 2
    x[0, :h, :h] = 2.0
    x[1, h:, h:] = 1.0
    return x


def quadrant_means(m: np.ndarray) -> np.ndarray:
    h = m.shape[0] // 2
    return np.array([m[:h, :h].mean(), m[:h, h:].mean(), m[h:, :h].mean(), m[h:, h:].mean()])


def manual_cam(model: nn.Module, module: nn.Module, x: torch.Tensor, cls: int, relu: bool) -> torch.Tensor:
    """Grad-CAM by hand: a forward hook keeps (a clone of) the layer output, autograd gives its gradient."""
    saved = {}

    def hook(mod, args, out):
        out = out.clone()  # what an in-place op downstream cannot overwrite
        saved["a"] = out
        return out

    h = module.register_forward_hook(hook)
    try:
        logits = model(x.unsqueeze(0))
    finally:
        h.remove()
    a = saved["a"]
    (grad,) = torch.autograd.grad(logits[0, cls], a)
    cam = (grad.mean((2, 3), keepdim=True) * a).sum(1)[0]
    return (cam.clamp(min=0) if relu else cam).detach()


@pytest.mark.parametrize("target", ["stage1", "stage2", "head"])
def test_map_is_hot_where_the_evidence_is(target):
    net = TinyNet()
    r = grad_cam(net, evidence(), target=target, classes=[0, 1])
    assert r.maps.shape == (2, SIZE, SIZE) and r.low_res.shape == (2, SIZE // 2, SIZE // 2)
    red, green = quadrant_means(r.maps[0]), quadrant_means(r.maps[1])
    assert red.argmax() == 0 and red[0] > 10 * red[1:].max()
    assert green.argmax() == 3 and green[3] > 10 * green[:3].max()
    assert np.unravel_index(r.maps[0].argmax(), r.maps[0].shape) < (SIZE // 2, SIZE // 2)


def test_top1_by_default_and_scores_are_probabilities():
    net = TinyNet()
    with torch.no_grad():
        probs = net(evidence().unsqueeze(0)).softmax(1)[0]
    r = grad_cam(net, evidence(), target="stage1")
    assert r.classes == [int(probs.argmax())] == [0]  # red evidence is stronger
    assert r.scores == pytest.approx([float(probs[0])])
    r2 = grad_cam(net, evidence(), target="stage1", topk=2, labels=["red", "green"])
    assert r2.classes == [0, 1] and r2.labels == ["red", "green"]
    assert sum(r2.scores) == pytest.approx(1.0)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("target", ["stage1", "head"])
def test_equals_manual_hooks_and_autograd_with_in_place_activation(target, relu):
    """stage2 is an in-place ReLU right after stage1: it must not corrupt the map (captum and the split clone)."""
    plain, inplace = TinyNet(inplace=False), TinyNet(inplace=True)
    x = evidence()
    module = plain.head.conv if target == "head" else getattr(plain, target)
    expected = manual_cam(plain, module, x, 1, relu)
    for net in (plain, inplace):
        r = grad_cam(net, x, target=target, classes=1, relu=relu)
        np.testing.assert_allclose(r.low_res[0], expected.numpy(), rtol=1e-5, atol=1e-7)
    if target == "stage1" and not relu:
        assert (expected < 0).any()  # the in-place ReLU would have had something to destroy


@pytest.fixture(scope="module")
def b0():
    return calibrate_bn(create_model("efficientnetv2_b0"), size=64)


@pytest.mark.parametrize("target", ["stage3", "stage6", "head"])
def test_efficientnet_matches_manual_computation(b0, target):
    x = torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(1))
    module = b0.head.conv if target == "head" else getattr(b0, target)
    r = grad_cam(b0, x, target=target, classes=[7, 300], relu=False)
    for k, c in enumerate((7, 300)):
        expected = manual_cam(b0, module, x, c, relu=False).numpy()
        np.testing.assert_allclose(r.low_res[k], expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("target", ["stem", "stage1", "stage6", "head"])
def test_efficientnet_shape_range_finite(b0, target):
    """Random weights: the maps may be all zero, so only shape, range and finiteness are asserted."""
    crop = Image.new("RGB", (64, 64), (120, 80, 40))
    r = grad_cam(b0, torch.randn(1, 3, 64, 64), target=target, topk=3, image=crop, opacity=0.4, colormap="viridis")
    assert r.maps.shape == (3, 64, 64) and r.heat.shape == (3, 64, 64)
    assert all(np.isfinite(a).all() for a in (r.maps, r.low_res, r.heat))
    assert (r.maps >= 0).all() and r.heat.min() >= 0 and r.heat.max() <= 1
    assert len(r.overlays) == 3 and all(o.size == (64, 64) and o.mode == "RGB" for o in r.overlays)
    assert len(set(r.classes)) == 3 and all(0 <= s <= 1 for s in r.scores)
    assert cam_targets(b0) == b0.stage_names


def test_several_classes_at_once_equal_one_at_a_time(b0):
    x = torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(2))
    together = grad_cam(b0, x, target="stage5", classes=[1, 2, 3], relu=False)
    for k, c in enumerate([1, 2, 3]):
        alone = grad_cam(b0, x, target="stage5", classes=c, relu=False)
        np.testing.assert_allclose(together.low_res[k], alone.low_res[0], rtol=1e-4, atol=1e-6)


def test_head_split_is_the_head(b0):
    f = torch.randn(2, b0.head.conv.conv.in_channels, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(_HeadClassifier(b0.head)(b0.head.conv(f)), b0.head(f))


def test_shared_scale_keeps_relative_strength():
    net = TinyNet()
    per = grad_cam(net, evidence(), target="stage1", classes=[0, 1])
    shared = grad_cam(net, evidence(), target="stage1", classes=[0, 1], scale="shared")
    assert per.heat[0].max() == pytest.approx(1) and per.heat[1].max() == pytest.approx(1)
    assert shared.heat[0].max() == pytest.approx(1)
    ratio = per.maps[1].max() / per.maps[0].max()
    assert 0 < ratio < 0.9 and shared.heat[1].max() == pytest.approx(ratio, rel=1e-5)
    fixed = grad_cam(net, evidence(), target="stage1", classes=[0], scale_max=2 * float(per.maps[0].max()))
    assert fixed.heat[0].max() == pytest.approx(0.5, rel=1e-5)


def test_signed_maps_keep_zero_at_zero():
    heat, div = normalize(np.array([[[-2.0, 1.0]], [[0.5, 0.25]]], np.float32), relu=False)
    np.testing.assert_allclose(heat, [[[-1.0, 0.5]], [[1.0, 0.5]]])
    assert div == [2.0, 0.5]


def test_overlay_blends_on_the_crop():
    crop = Image.new("RGB", (4, 2), (200, 100, 0))
    heat = np.ones((2, 4), np.float32)
    assert np.array_equal(np.asarray(overlay(crop, heat, opacity=0.0)), np.asarray(crop))
    full = np.asarray(overlay(crop, heat, opacity=1.0, colormap="gray"))
    assert (full == 255).all()
    half = np.asarray(overlay(crop, heat, opacity=0.3, colormap="gray")).astype(float)
    assert np.abs(half[0, 0] - (0.7 * np.array([200, 100, 0]) + 0.3 * 255)).max() <= 1  # 8-bit rounding


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": "stage9"}, StageError, "no Grad-CAM target 'stage9'; choose one of stem, stage1, stage2, head"),
        ({"classes": 2}, ValueError, "class index must be a whole number from 0 to 1, got 2"),
        ({"classes": []}, ValueError, "no classes"),
        ({"topk": 3}, ValueError, "topk must be a whole number from 1 to 2"),
        ({"colormap": "nope"}, ValueError, "unknown colormap 'nope'"),
        ({"opacity": 1.5}, ValueError, "opacity must be from 0 to 1"),
        ({"scale": "global"}, ValueError, "scale must be one of per-map, shared"),
        ({"image": Image.new("RGB", (10, 10))}, ValueError, "pass the crop the model saw"),
    ],
)
def test_bad_requests(kwargs, error, match):
    with pytest.raises(error, match=match):
        grad_cam(TinyNet(), evidence(), **kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"expected one image of shape"):
        grad_cam(TinyNet(), torch.zeros(2, 3, SIZE, SIZE))


def test_cli_cam_writes_the_overlay(b0_checkpoint, tmp_path, capsys):
    """With a timm-made B0 checkpoint as --weights; the overlay has the crop's size (224 for B0's test size)."""
    from effnetv2.cli import main

    photo = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), (10, 200, 30)).save(photo)
    out = tmp_path / "cam.png"
    argv = ["cam", str(photo), "--checkpoint", "b0", "--weights", str(b0_checkpoint), "--device", "cpu"]
    assert main([*argv, "--stage", "stage5", "--class", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "class 3" in text and "at stage5" in text
    with Image.open(out) as im:
        assert im.size == (224, 224) and im.mode == "RGB"
    assert main([*argv, "--signed", "--colormap", "coolwarm", "--out", str(tmp_path / "signed.png")]) == 0
    assert "at stage6" in capsys.readouterr().out  # the default target: the last stage


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--stage", "stage9"], "no Grad-CAM target 'stage9'"),
        (["--class", "1000"], "class index must be a whole number from 0 to 999"),
        (["--colormap", "nope"], "unknown colormap"),
        (["--out", "x.jpg"], "--out must be a .png file"),
    ],
)
def test_cli_cam_errors_are_one_line(b0_checkpoint, tmp_path, capsys, extra, match):
    from effnetv2.cli import main

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(photo)
    argv = ["cam", str(photo), "--checkpoint", "b0", "--weights", str(b0_checkpoint), "--device", "cpu"]
    if "--out" not in extra:
        extra = [*extra, "--out", str(tmp_path / "o.png")]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_cli_cam_unreadable_image(b0_checkpoint, tmp_path, capsys):
    from effnetv2.cli import main

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert (
        main(["cam", str(bad), "--weights", str(b0_checkpoint), "--checkpoint", "b0", "--out", str(tmp_path / "o.png")])
        == 2
    )
    assert capsys.readouterr().err.count("\n") == 1
