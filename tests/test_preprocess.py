"""Eval preprocessing equals timm's (resolve_data_config + create_transform) on real photos, for every setting."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from timm.models import get_pretrained_cfg

from effnetv2 import CHECKPOINTS, EvalTransform

ASSETS = Path(__file__).resolve().parents[1] / "assets"
PHOTOS = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket_portrait.jpg"]  # 3:2, 3:2, 1:1, 2:3


@pytest.fixture(scope="module")
def photos():
    return {name: Image.open(ASSETS / name).convert("RGB") for name in PHOTOS}


# One case per distinct setting (several checkpoints share one), each named after its first checkpoint.
CASES = {}
for _c in CHECKPOINTS.values():
    for _size in ("train", "test"):
        CASES.setdefault(_c.preprocess(_size), f"{_c.name}-{_size}")


def test_cases_cover_both_crop_modes_both_normalizations_and_every_size():
    settings = list(CASES)
    assert {s.crop_mode for s in settings} == {"center", "squash"}
    assert {s.mean for s in settings} == {(0.485, 0.456, 0.406), (0.5, 0.5, 0.5)}
    assert {s.size for s in settings} == {c.preprocess(z).size for c in CHECKPOINTS.values() for z in ("train", "test")}


@pytest.mark.parametrize("setting", list(CASES), ids=list(CASES.values()))
def test_tensor_equals_timms_eval_transform(setting, photos):
    name, size = CASES[setting].rsplit("-", 1)
    config = resolve_data_config({}, pretrained_cfg=get_pretrained_cfg(name).to_dict(), use_test_size=size == "test")
    reference = create_transform(**config, is_training=False)
    ours = EvalTransform(setting)
    for photo in photos.values():
        expected = reference(photo)
        got = ours(photo)
        assert got.dtype == torch.float32 and got.shape == (3, setting.size, setting.size)
        assert (got - expected).abs().max().item() <= 1e-6


def test_crop_is_what_the_model_sees(photos):
    t = EvalTransform(CHECKPOINTS["tf_efficientnetv2_b0.in1k"].test)
    crop = t.crop(photos["chelsea.jpg"])
    assert crop.mode == "RGB" and crop.size == (224, 224)
    mean, std = torch.tensor(t.cfg.mean)[:, None, None], torch.tensor(t.cfg.std)[:, None, None]
    recovered = (t(photos["chelsea.jpg"]) * std + mean) * 255
    pixels = torch.from_numpy(np.array(crop)).permute(2, 0, 1).float()
    assert (recovered - pixels).abs().max() < 1e-3


def test_center_keeps_the_aspect_ratio_and_squash_does_not(photos):
    """A 600x400 photo at crop_pct 1.0: center resizes to 450x300 and cuts the sides; squash stretches it all."""
    wide = photos["coffee.jpg"]
    center = EvalTransform(CHECKPOINTS["tf_efficientnetv2_s.in1k"].train).crop(wide)
    squash = EvalTransform(CHECKPOINTS["tf_efficientnetv2_m.in1k"].train).crop(wide)
    bicubic = Image.Resampling.BICUBIC
    assert center.tobytes() == wide.resize((450, 300), bicubic).crop((75, 0, 375, 300)).tobytes()
    assert squash.tobytes() == wide.resize((384, 384), bicubic).tobytes()


def test_batch_stacks_and_accepts_any_mode(photos):
    t = EvalTransform(CHECKPOINTS["tf_efficientnetv2_b0.in1k"].train)
    grey = photos["coffee.jpg"].convert("L")
    out = t.batch([photos["chelsea.jpg"], grey])
    assert out.shape == (2, 3, 192, 192)
    assert torch.equal(out[1], t(grey.convert("RGB")))
    with pytest.raises(ValueError, match="no images"):
        t.batch([])
