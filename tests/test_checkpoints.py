"""The checkpoint registry: complete, equal to timm's pretrained configs, and forgiving about names."""

import pytest
from timm.models import get_pretrained_cfg, list_pretrained

from effnetv2 import ALIASES, CHECKPOINTS, DEFAULT_CHECKPOINT, UnknownCheckpointError, get_arch, resolve_checkpoint


def test_every_1000_class_tf_efficientnetv2_checkpoint_is_registered():
    timm_names = {n for n in list_pretrained("tf_efficientnetv2_*") if get_pretrained_cfg(n).num_classes == 1000}
    assert set(CHECKPOINTS) == timm_names
    assert len(CHECKPOINTS) == 12


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_entry_matches_timms_pretrained_config(name):
    ours, cfg = CHECKPOINTS[name], get_pretrained_cfg(name)
    assert ours.repo_id == cfg.hf_hub_id == f"timm/{name}"
    assert ours.filename == "model.safetensors"
    assert ours.license == cfg.license
    assert ours.num_classes == cfg.num_classes
    get_arch(ours.arch)  # an architecture this package builds
    assert ours.arch == "efficientnetv2_" + name.split(".")[0].removeprefix("tf_efficientnetv2_")
    for pp, size, crop_pct in (
        (ours.train, cfg.input_size, cfg.crop_pct),
        (ours.test, cfg.test_input_size, cfg.test_crop_pct or cfg.crop_pct),
    ):
        assert (3, pp.size, pp.size) == tuple(size)
        assert pp.crop_pct == crop_pct
        assert pp.crop_mode == cfg.crop_mode
        assert pp.interpolation == cfg.interpolation
        assert pp.mean == tuple(cfg.mean) and pp.std == tuple(cfg.std)
    assert ours.test.size > ours.train.size


def test_aliases_name_the_most_accurate_checkpoint_of_each_size():
    assert set(ALIASES) == {"b0", "b1", "b2", "b3", "s", "m", "l", "xl"}
    assert ALIASES["s"] == "tf_efficientnetv2_s.in21k_ft_in1k" == DEFAULT_CHECKPOINT
    assert ALIASES["b3"] == "tf_efficientnetv2_b3.in21k_ft_in1k"
    assert ALIASES["b0"] == "tf_efficientnetv2_b0.in1k"
    for alias, name in ALIASES.items():
        same_size = [c for c in CHECKPOINTS.values() if c.arch == f"efficientnetv2_{alias}"]
        assert CHECKPOINTS[name].top1 == max(c.top1 for c in same_size)
        assert CHECKPOINTS[name].alias == alias


@pytest.mark.parametrize(
    "spelling",
    [
        "tf_efficientnetv2_s.in21k_ft_in1k",
        "S",
        " s ",
        "timm/tf_efficientnetv2_s.in21k_ft_in1k",
        "tf_efficientnetv2_s",
        "efficientnetv2_s",
    ],
)
def test_spellings_resolve(spelling):
    assert resolve_checkpoint(spelling).name == "tf_efficientnetv2_s.in21k_ft_in1k"


def test_unknown_checkpoint_suggests_close_names():
    with pytest.raises(
        UnknownCheckpointError,
        match=r"unknown checkpoint 'tf_efficientnetv2_s\.in1'; did you mean "
        r"tf_efficientnetv2_s\.in1k",
    ):
        resolve_checkpoint("tf_efficientnetv2_s.in1")
    with pytest.raises(ValueError, match="did you mean xl"):  # also a ValueError
        resolve_checkpoint("xll")
    with pytest.raises(UnknownCheckpointError, match="known: b0, b1"):
        resolve_checkpoint("resnet50")


def test_in21k_heads_point_to_their_in1k_fine_tune():
    with pytest.raises(UnknownCheckpointError, match=r"21843-class .* use tf_efficientnetv2_m\.in21k_ft_in1k"):
        resolve_checkpoint("tf_efficientnetv2_m.in21k")
