"""The checkpoint registry: complete, equal to timm's pretrained configs, and forgiving about names."""

import pytest
from timm.models import get_pretrained_cfg, list_pretrained

from effnetv2 import (
    ALIASES,
    CHECKPOINTS,
    DEFAULT_CHECKPOINT,
    EMBEDDED_CHECKPOINT,
    HubFile,
    UnknownCheckpointError,
    get_arch,
    resolve_checkpoint,
)

HUB = sorted(n for n, c in CHECKPOINTS.items() if isinstance(c.source, HubFile))


def test_every_1000_class_tf_efficientnetv2_and_lite_checkpoint_is_registered():
    timm_names = {
        n
        for pattern in ("tf_efficientnetv2_*", "tf_efficientnet_lite*")
        for n in list_pretrained(pattern)
        if get_pretrained_cfg(n).num_classes == 1000
    }
    assert set(HUB) == timm_names
    assert len(HUB) == 12 + 5
    assert set(CHECKPOINTS) == {*HUB, EMBEDDED_CHECKPOINT}  # the one entry whose weights are not on the Hub


@pytest.mark.parametrize("name", HUB)
def test_entry_matches_timms_pretrained_config(name):
    ours, cfg = CHECKPOINTS[name], get_pretrained_cfg(name)
    assert ours.repo_id == cfg.hf_hub_id == f"timm/{name}"
    assert ours.filename == "model.safetensors"
    assert ours.license == cfg.license
    assert ours.num_classes == cfg.num_classes
    get_arch(ours.arch)  # an architecture this package builds
    assert ours.arch == name.split(".")[0].removeprefix("tf_")
    for pp, size, crop_pct in (
        (ours.train, cfg.input_size, cfg.crop_pct),
        (ours.test, cfg.test_input_size or cfg.input_size, cfg.test_crop_pct or cfg.crop_pct),  # Lite: one size
    ):
        assert (3, pp.size, pp.size) == tuple(size)
        assert pp.crop_pct == crop_pct
        assert pp.crop_mode == cfg.crop_mode
        assert pp.interpolation == cfg.interpolation
        assert pp.mean == tuple(cfg.mean) and pp.std == tuple(cfg.std)
    assert ours.test.size > ours.train.size if cfg.test_input_size else ours.test == ours.train


def test_aliases_name_the_most_accurate_checkpoint_of_each_size():
    v2 = {"b0", "b1", "b2", "b3", "s", "m", "l", "xl"}
    assert set(ALIASES) == v2 | {f"lite{i}" for i in range(5)} | {"embedded"}
    assert ALIASES["s"] == "tf_efficientnetv2_s.in21k_ft_in1k" == DEFAULT_CHECKPOINT
    assert ALIASES["b3"] == "tf_efficientnetv2_b3.in21k_ft_in1k"
    assert ALIASES["b0"] == "tf_efficientnetv2_b0.in1k"
    assert ALIASES["lite3"] == "tf_efficientnet_lite3.in1k"
    assert ALIASES["embedded"] == EMBEDDED_CHECKPOINT
    for alias, name in ALIASES.items():
        assert CHECKPOINTS[name].alias == alias
        if alias == "embedded":
            continue
        arch = f"efficientnetv2_{alias}" if alias in v2 else f"efficientnet_{alias}"
        same_size = [c for c in CHECKPOINTS.values() if c.arch == arch and c.top1 is not None]
        assert CHECKPOINTS[name].top1 == max(c.top1 for c in same_size)


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


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("lite0", "tf_efficientnet_lite0.in1k"),
        ("efficientnet_lite2", "tf_efficientnet_lite2.in1k"),
        ("tf_efficientnet_lite4", "tf_efficientnet_lite4.in1k"),
        ("timm/tf_efficientnet_lite1.in1k", "tf_efficientnet_lite1.in1k"),
        ("Embedded", EMBEDDED_CHECKPOINT),
        (EMBEDDED_CHECKPOINT, EMBEDDED_CHECKPOINT),
    ],
)
def test_lite_and_embedded_spellings_resolve(spelling, name):
    assert resolve_checkpoint(spelling).name == name


def test_a_v1_model_name_is_not_taken_for_the_v2_checkpoint_of_the_same_size():
    with pytest.raises(UnknownCheckpointError):
        resolve_checkpoint("efficientnet_b0")  # V1 B0 has no registered checkpoint; V2-B0's is another network


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
