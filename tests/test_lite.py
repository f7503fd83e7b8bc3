"""EfficientNet-Lite in the family: its table, its numerics, and every library feature on it (random weights).

Logits and parameter counts against timm are in test_model.py (with V1 and V2); real Lite0 weights are in
test_real_weights.py.
"""

from __future__ import annotations

import json

import pytest
import timm
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from effnetv2 import create_model, get_arch, logit_error, optimize_for_inference, stats
from effnetv2 import optimize as opt
from effnetv2.backend.diagrams import stage_block
from effnetv2.cli import main
from effnetv2.compare import NO_WEIGHTS_NOTE, compare
from effnetv2.config import LITE_BASE, V1_BASE
from effnetv2.gradcam import deletion_score, grad_cam
from effnetv2.layers import ConvBNAct, SqueezeExcite
from effnetv2.precision import CpuCapabilities, assume_cpu
from effnetv2.profiling import benchmark
from effnetv2.testing.reference import calibrate_bn

LITES = [f"efficientnet_lite{i}" for i in range(5)]


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    """Lite0 with timm's random weights and BN calibrated at 224 (realistic activations, ReLU6 clamping)."""
    torch.manual_seed(0)
    ref = calibrate_bn(timm.create_model("tf_efficientnet_lite0"), size=224, steps=1)
    return create_model("efficientnet_lite0", weights=ref.state_dict()).eval()


# ----------------------------------------------------------------------------------------------- the table


def test_lite_table_is_v1_without_se():
    assert [(s.operator, s.expand, s.kernel, s.stride, s.channels, s.layers) for s in LITE_BASE] == [
        (s.operator, s.expand, s.kernel, s.stride, s.channels, s.layers) for s in V1_BASE
    ]
    assert all(s.se == 0 for s in LITE_BASE) and all(s.se == 0.25 for s in V1_BASE)


@pytest.mark.parametrize("name", LITES)
def test_relu6_everywhere_no_se_and_fixed_stem_head(name):
    with torch.device("meta"):
        model = create_model(name)
    acts = {type(m.act) for m in model.modules() if isinstance(m, ConvBNAct)}
    assert acts == {nn.ReLU6, nn.Identity}  # ReLU6, and nothing on the linear projections
    assert not any(isinstance(m, (SqueezeExcite, nn.SiLU)) for m in model.modules())
    assert model.stem.conv.out_channels == 32 and model.head.conv.conv.out_channels == 1280  # not scaled


def test_first_and_last_stage_depth_fixed_others_scaled():
    lite4, b4 = get_arch("efficientnet_lite4").scaled(), get_arch("efficientnet_b4").scaled()  # both depth 1.8
    assert [s.layers for s in lite4.stages] == [1, 4, 4, 6, 6, 8, 1]
    assert [s.layers for s in b4.stages] == [2, 4, 4, 6, 6, 8, 2]
    assert [s.channels for s in lite4.stages] == [s.channels for s in b4.stages]  # same width rule (1.4)
    assert (lite4.stem, lite4.head, b4.stem, b4.head) == (32, 1280, 48, 1792)


# ------------------------------------------------------------------------------------------ info and stats


def _timm_macs(name: str, size: int) -> int:
    with torch.device("meta"):
        model = timm.create_model(name).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("i", [0, 4])
def test_stats_equal_timms_params_and_macs(i):
    s = stats(f"efficientnet_lite{i}")
    assert s.image_size == (224, 380)[i // 4] and len(s.stages) == 9
    assert s.params == (4_652_008, 13_006_568)[i // 4]
    assert s.macs == _timm_macs(f"tf_efficientnet_lite{i}", s.image_size)
    assert s.stages[1].block == "MBConv1, k3x3" and s.stages[2].block == "MBConv6, k3x3"  # no SE in the labels
    assert s.stages[0].channels == 32 and s.stages[-1].channels == 1280


def test_cli_info_prints_the_lite_table(capsys):
    assert main(["info", "efficientnet-lite0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "efficientnet_lite0" and out["blocks"] == "MMMMMMM" and out["params"] == 4_652_008
    assert main(["info", "efficientnet_lite0"]) == 0
    assert "MBConv6, k5x5" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- the F/M switch


def test_blocks_switch_on_lite_keeps_lite_rules():
    model = create_model("efficientnet_lite0", blocks="FFFMMMM")
    assert model.blocks == "FFFMMMM"
    assert type(model.stage2[0]).__name__ == "FusedMBConv"
    assert not any(isinstance(m, SqueezeExcite) for m in model.modules())  # Lite's MBConv has no SE either
    assert {type(m.act) for m in model.modules() if isinstance(m, ConvBNAct)} == {nn.ReLU6, nn.Identity}
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    assert stats("efficientnet_lite0", "FFFMMMM").params > stats("efficientnet_lite0").params
    assert "ReLU6" in stage_block("efficientnet_lite0", 2, "FFFMMMM").layers[1].label
    assert "SE" not in " ".join(layer.label for layer in stage_block("efficientnet_lite0", 2).layers)


# ------------------------------------------------------------------------------- profiling and comparison


def test_latency_per_stage_on_lite():
    result = benchmark("efficientnet_lite0", image_size=64, runs=2, warmup=1, device="cpu")
    names = [s.name for s in result.latency.stages]
    assert names == ["stem", *(f"stage{i}" for i in range(1, 8)), "head"]
    assert result.latency.total_ms > 0 and all(s.median_ms >= 0 for s in result.latency.stages)
    assert sum(s.params for s in result.latency.stages) == 4_652_008


def test_compare_on_lite():
    c = compare("efficientnet_lite0", ["FFFMMMM"], image_size=64, runs=2, warmup=0, device="cpu", train=False)
    assert (c.baseline.blocks, c.baseline.pretrained) == ("MMMMMMM", True)  # timm's Lite0 / the embedded one
    (v,) = c.variants
    assert (v.blocks, v.pretrained, v.params) == ("FFFMMMM", False, stats("efficientnet_lite0", "FFFMMMM").params)
    assert c.to_dict()["variants"][0]["note"] == NO_WEIGHTS_NOTE


# ------------------------------------------------------------------------------------------------ Grad-CAM


@pytest.mark.parametrize("target", ["stage4", "stage7", "head"])
def test_grad_cam_runs_on_lite(lite0, target):
    """Random weights: shape and range only (the map's meaning is tested on real weights)."""
    x = torch.randn(3, 96, 80, generator=torch.Generator().manual_seed(0))
    r = grad_cam(lite0, x, target=target, relu=False, topk=2)
    assert r.maps.shape == (2, 96, 80) and r.target == target
    assert bool(torch.isfinite(torch.from_numpy(r.maps)).all()) and float(abs(r.heat).max()) <= 1.0


def test_deletion_score_structure(lite0):
    x = torch.randn(3, 64, 80, generator=torch.Generator().manual_seed(0))
    cam = grad_cam(lite0, x, relu=False)
    s = deletion_score(lite0, x, cam, cell=16, fraction=0.25, random_orders=3)
    assert s.grid == (4, 5) and len(s.top_cells) == 5 and len(s.prob_random) == 3 and s.class_index == cam.classes[0]
    assert 0 <= s.prob <= 1 and s.drop_top == s.prob - s.prob_top
    with pytest.raises(ValueError, match="map of the image's size"):
        deletion_score(lite0, x[:, :32], cam)


# ------------------------------------------------------------------------------------------- the fast path


@pytest.mark.parametrize("hw", [(224, 224), (227, 227), (240, 200)])
def test_fast_path_keeps_relu6_and_matches_plain(lite0, hw):
    fast = optimize_for_inference(lite0)
    folded = [m for m in fast.modules() if isinstance(m, opt.FoldedConv)]
    assert {m.act for m in folded} == {"relu6", None}
    assert fast.stage2[0].expand.act == "relu6" and fast.stage2[0].project.act is None
    x = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = lite0(x), fast(x)
    assert logit_error(got, expected) < 2e-5


def test_fast_path_without_onednn_fusion_clamps_too(lite0):
    with assume_cpu(CpuCapabilities("no oneDNN (assumed)", False, False, frozenset())):
        fast = optimize_for_inference(lite0)
    assert not any(m.fuse for m in fast.modules() if isinstance(m, opt.FoldedConv))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert logit_error(fast(x), lite0(x)) < 2e-5


def test_dropping_the_activation_would_be_caught(lite0):
    """The old fast path knew only SiLU and silently ran Lite without ReLU6: the logits then differ grossly."""
    fast = optimize_for_inference(lite0)
    for m in fast.modules():
        if isinstance(m, opt.FoldedConv):
            m.act = None
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert logit_error(fast(x), lite0(x)) > 0.05


def test_an_unknown_activation_is_refused_not_dropped():
    model = create_model("efficientnet_lite0", num_classes=10).eval()
    model.stem.act = nn.GELU()
    with pytest.raises(TypeError, match="does not know the activation GELU"):
        optimize_for_inference(model)
