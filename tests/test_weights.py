"""Loading weights: timm layout, own layout, safetensors files, and clear failures."""

import pytest
import torch
from safetensors.torch import save_file

from effnetv2 import CorruptWeightsError, WeightsMismatchError, create_model, from_timm
from effnetv2.testing.reference import timm_model


@pytest.fixture(scope="module")
def b0():
    return timm_model("tf_efficientnetv2_b0")


def test_timm_layout_safetensors_file_loads(tmp_path, b0):
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in b0.state_dict().items()}, str(path))
    ours = create_model("efficientnetv2_b0", weights=path).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), b0(x), rtol=0, atol=1e-5)


def test_own_layout_round_trips(b0):
    a = create_model("efficientnetv2_b0", weights=b0.state_dict())
    b = create_model("efficientnetv2_b0", weights=a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert set(from_timm(b0.state_dict())) == set(a.state_dict())


def test_mismatched_weights_say_how_many_keys_and_shapes_differ(b0):
    with pytest.raises(WeightsMismatchError) as info:
        create_model("efficientnetv2_b1", weights=b0.state_dict())
    assert "missing" in str(info.value) and "efficientnetv2_b1" in str(info.value)
    with pytest.raises(WeightsMismatchError, match=r"1 of the wrong shape \(e.g. head.classifier.weight\)"):
        sd = dict(b0.state_dict())
        sd["classifier.weight"] = sd["classifier.weight"][:10]
        create_model("efficientnetv2_b0", weights=sd)


def test_truncated_file_is_a_clear_error(tmp_path, b0):
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in b0.state_dict().items()}, str(path))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptWeightsError, match="not a readable safetensors file"):
        create_model("efficientnetv2_b0", weights=path)


def test_pickles_are_refused(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(b"not read")
    with pytest.raises(CorruptWeightsError, match=r"only \.safetensors"):
        create_model("efficientnetv2_b0", weights=path)
