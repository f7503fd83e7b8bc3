"""Per-stage statistics and the ``info`` command."""

import json
import subprocess
import sys

import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from effnetv2 import stats


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "effnetv2", *args], capture_output=True, text=True, timeout=120)


def test_macs_are_half_of_torch_flops_of_the_timm_model():
    ref = timm.create_model("tf_efficientnetv2_b0").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        ref(torch.randn(1, 3, 224, 224))
    s = stats("efficientnetv2_b0", image_size=224)
    assert s.macs * 2 == counter.get_total_flops()
    assert s.params == sum(p.numel() for p in ref.parameters())
    assert sum(r.params for r in s.stages) == s.params and sum(r.macs for r in s.stages) == s.macs


def test_stats_follow_blocks_and_image_size():
    base = stats("efficientnet_b4")
    fused = stats("efficientnet_b4", "FFFMMMM")
    assert base.image_size == 380 and base.blocks == "MMMMMMM"
    assert round(base.params / 1e6, 1) == 19.3  # paper Table 3, "No fused"
    assert fused.params > base.params and fused.macs > base.macs
    assert [r.block for r in fused.stages[1:4]] == ["Conv3x3", "Fused-MBConv6, k3x3", "Fused-MBConv6, k5x5"]
    assert stats("efficientnetv2_s", image_size=192).macs < stats("efficientnetv2_s", image_size=384).macs / 3.5


def test_info_json_has_the_documented_shape():
    out = _cli("info", "efficientnetv2_s", "--blocks", "fffmmm", "--image-size", "300", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"model", "blocks", "image_size", "params", "macs", "stages"} <= set(data)
    assert data["model"] == "efficientnetv2_s" and data["blocks"] == "FFFMMM" and data["image_size"] == 300
    assert [s["name"] for s in data["stages"]] == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    keys = {"name", "block", "expand", "kernel", "stride", "channels", "layers", "se", "params", "macs"}
    assert all(keys <= set(s) for s in data["stages"])
    assert data["params"] == 21458488 and data["stages"][4]["se"] == 0.25


def test_info_table_lists_each_stage():
    out = _cli("info", "efficientnetv2_b0")
    assert out.returncode == 0
    assert "MBConv6, k3x3, SE0.25" in out.stdout and "stage6" in out.stdout and "7.14M" in out.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["info", "nope"], "unknown model 'nope'"),
        (["info", "efficientnetv2_s", "--blocks", "FFM"], "must be 6 letters"),
        (["info", "efficientnetv2_s", "--image-size", "-3"], "at least 1"),
        (["info"], "required"),
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(args, fragment):
    out = _cli(*args)
    assert out.returncode != 0
    assert fragment in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
