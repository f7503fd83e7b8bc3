"""The model family against timm, the reference implementation of the official TF checkpoints."""

import pytest
import timm
import torch

import effnetv2
from effnetv2 import BlocksError, UnknownModelError, create_model
from effnetv2.layers import same_padding
from effnetv2.testing.reference import V2_SIZES, timm_model


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "ours, theirs",
    [(f"efficientnetv2_{s}", f"tf_efficientnetv2_{s}") for s in V2_SIZES]
    + [(f"efficientnet_b{i}", f"tf_efficientnet_b{i}") for i in range(8)]
    + [(f"efficientnet_lite{i}", f"tf_efficientnet_lite{i}") for i in range(5)],
)
def test_parameter_count_equals_timm(ours, theirs):
    with torch.device("meta"):
        assert _params(create_model(ours)) == _params(timm.create_model(theirs))


@pytest.mark.parametrize("size", V2_SIZES)
def test_logits_equal_timm_on_even_odd_and_non_square_inputs(size):
    ref = timm_model(f"tf_efficientnetv2_{size}")
    ours = create_model(f"efficientnetv2_{size}", weights=ref.state_dict()).eval()
    g = torch.Generator().manual_seed(1)
    for hw in [(128, 128), (131, 131), (160, 96)]:
        x = torch.randn(2, 3, *hw, generator=g)
        with torch.no_grad():
            expected, got = ref(x), ours(x)
        assert expected.abs().max() > 0.1  # the comparison means something
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("size", range(5))
def test_lite_logits_equal_timm_on_even_odd_and_non_square_inputs(size):
    """Lite's numerics (ReLU6, no SE, fixed stem/head and first/last depth) against timm's tf_efficientnet_lite*."""
    ref = timm_model(f"tf_efficientnet_lite{size}")
    ours = create_model(f"efficientnet_lite{size}", weights=ref.state_dict()).eval()
    g = torch.Generator().manual_seed(1)
    for hw in [(128, 128), (131, 131), (160, 96)]:
        x = torch.randn(2, 3, *hw, generator=g)
        with torch.no_grad():
            expected, got = ref(x), ours(x)
        assert expected.abs().max() > 0.1
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_v1_logits_equal_timm():
    ref = timm_model("tf_efficientnet_b0")
    ours = create_model("efficientnet_b0", weights=ref.state_dict()).eval()
    x = torch.randn(1, 3, 120, 100)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-5)


def test_symmetric_padding_option_is_pytorch_style_and_changes_logits():
    ref = timm_model("tf_efficientnetv2_b0")
    tf = create_model("efficientnetv2_b0", weights=ref.state_dict()).eval()
    pt = create_model("efficientnetv2_b0", weights=ref.state_dict(), padding="symmetric", bn_eps=1e-5).eval()
    assert pt.stem.conv.padding == (1, 1) and pt.stem.bn.eps == 1e-5 and tf.stem.bn.eps == 1e-3
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        a, b = tf(x), pt(x)
    assert (a - b).abs().max() > 1e-3 * a.abs().max()


def test_same_padding_matches_tf_rule():
    assert same_padding(224, 3, 2) == (0, 1)  # not PyTorch's (1, 1)
    assert same_padding(225, 3, 2) == (1, 1)
    assert same_padding(224, 5, 2) == (1, 2)
    assert same_padding(7, 3, 1) == (1, 1)


def test_blocks_string_switches_stage_operators():
    model = create_model("efficientnetv2_b0", blocks="MMMFFF")
    assert model.blocks == "MMMFFF"
    s1 = model.stage1[0]
    assert type(s1).__name__ == "MBConv" and s1.expand is None and s1.se is not None  # expansion 1 kept
    s4 = model.stage4[0]
    assert type(s4).__name__ == "FusedMBConv" and not hasattr(s4, "se")  # Fused: no SE
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("blocks, fragment", [("FFF", "got 3 letters"), ("FFFMMX", "'X'"), ("", "got 0 letters")])
def test_bad_blocks_raise_value_error_saying_what_is_expected(blocks, fragment):
    with pytest.raises(BlocksError) as info:
        create_model("efficientnetv2_s", blocks=blocks)
    assert isinstance(info.value, ValueError)
    assert "must be 6 letters F (Fused-MBConv) or M (MBConv)" in str(info.value) and fragment in str(info.value)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="did you mean efficientnetv2_s"):
        create_model("efficientnetv2_ss")


def test_stages_are_named_and_forward_stages_returns_each_output():
    model = create_model("efficientnetv2_s").eval()
    assert model.stage_names == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    with torch.no_grad():
        outs = model.forward_stages(torch.randn(1, 3, 64, 64))
        logits = model(torch.randn(1, 3, 64, 64))
    assert list(outs) == model.stage_names
    assert outs["stem"].shape == (1, 24, 32, 32) and outs["stage6"].shape == (1, 256, 2, 2)
    assert outs["head"].shape == logits.shape == (1, 1000)


def test_dropout_and_stochastic_depth_act_only_in_training():
    model = create_model("efficientnetv2_b0", drop_rate=0.5, drop_path_rate=0.5)
    last = model.stage6[-1].drop_path
    assert 0 < last.rate < 0.5 and model.stage1[0].drop_path is None  # linear in depth; no residual at 32->16
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))


def test_seed_constructors_build_the_official_architecture():
    m = effnetv2.effnetv2_s(num_classes=10)
    assert _params(m) == 21458488 - 1280 * 990 - 990  # the official S, with a 10-class head
    assert m.head.conv.conv.out_channels == 1280  # not the seed's 1792
    with torch.no_grad():
        assert m.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 10)
    wide = effnetv2.effnetv2_m(width_mult=0.5)
    assert wide.stem.conv.out_channels == 16  # 24 x 0.5 = 12 -> 16 (TF rounding to multiples of 8)
