"""The pretrained EfficientNetV2 checkpoints on the Hugging Face Hub, as data.

timm's ports of the official TF weights (``timm/tf_efficientnetv2_*``), 1000-class ImageNet heads only.
Each entry carries the eval preprocessing at the train size and at the (larger, more accurate) test size,
copied from timm 1.0.31's pretrained configs: the model only gives its published accuracy with them.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Literal

from .errors import UnknownCheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)  # TF's [-1, 1] scaling
INCEPTION_STD = (0.5, 0.5, 0.5)

CropMode = Literal["center", "squash"]


@dataclass(frozen=True)
class Preprocess:
    """One eval preprocessing setting: resize to ``floor(size / crop_pct)``, center-crop ``size``, normalize.

    ``center`` resizes the shorter side (keeps the aspect ratio); ``squash`` resizes both sides (stretches).
    """

    size: int
    crop_pct: float
    crop_mode: CropMode
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def scale_size(self) -> int:
        """The resize target before the crop (timm: ``floor(size / crop_pct)``)."""
        return math.floor(self.size / self.crop_pct)

    def to_timm(self) -> dict:
        """The same setting as a timm ``pretrained_cfg`` dict (for comparisons with timm in tests)."""
        return {
            "input_size": (3, self.size, self.size),
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
        }


@dataclass(frozen=True)
class Checkpoint:
    """A Hub checkpoint: where it lives, which architecture it fits, how to feed it, how good it is."""

    name: str
    arch: str
    repo_id: str
    filename: str
    train: Preprocess
    test: Preprocess
    top1: float
    license: str
    num_classes: int = 1000

    @property
    def alias(self) -> str | None:
        """The short name (``s``, ``b0`` ...) if this is the best checkpoint of its size."""
        return next((a for a, n in ALIASES.items() if n == self.name), None)

    def preprocess(self, size: Literal["test", "train"] = "test") -> Preprocess:
        if size not in ("test", "train"):
            raise ValueError(f"size must be 'test' or 'train', got {size!r}")
        return self.test if size == "test" else self.train


def _entry(
    size: str,
    tag: str,
    train: int,
    test: int,
    crop_pct: float,
    crop_mode: CropMode,
    norm: Literal["IMN", "INC"],
    top1: float,
) -> Checkpoint:
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if norm == "IMN" else (INCEPTION_MEAN, INCEPTION_STD)
    name = f"tf_efficientnetv2_{size}.{tag}"
    return Checkpoint(
        name=name,
        arch=f"efficientnetv2_{size}",
        repo_id=f"timm/{name}",
        filename="model.safetensors",
        train=Preprocess(train, crop_pct, crop_mode, "bicubic", mean, std),
        test=Preprocess(test, crop_pct, crop_mode, "bicubic", mean, std),
        top1=top1,
        license="apache-2.0",
    )


# size, tag, train size, test size, crop_pct, crop mode, normalization, timm's top-1 at the test size
CHECKPOINTS: dict[str, Checkpoint] = {
    c.name: c
    for c in (
        _entry("b0", "in1k", 192, 224, 0.875, "center", "IMN", 78.39),
        _entry("b1", "in1k", 192, 240, 0.882, "center", "IMN", 79.52),
        _entry("b2", "in1k", 208, 260, 0.890, "center", "IMN", 80.23),
        _entry("b3", "in1k", 240, 300, 0.904, "center", "IMN", 81.96),
        _entry("b3", "in21k_ft_in1k", 240, 300, 0.9, "squash", "INC", 82.63),
        _entry("s", "in1k", 300, 384, 1.0, "center", "INC", 83.90),
        _entry("s", "in21k_ft_in1k", 300, 384, 1.0, "center", "INC", 84.33),
        _entry("m", "in1k", 384, 480, 1.0, "squash", "INC", 85.21),
        _entry("m", "in21k_ft_in1k", 384, 480, 1.0, "squash", "INC", 86.01),
        _entry("l", "in1k", 384, 480, 1.0, "squash", "INC", 85.66),
        _entry("l", "in21k_ft_in1k", 384, 480, 1.0, "squash", "INC", 86.80),
        _entry("xl", "in21k_ft_in1k", 384, 512, 1.0, "squash", "INC", 86.75),
    )
}


def _best_per_size() -> dict[str, str]:
    best: dict[str, Checkpoint] = {}
    for c in CHECKPOINTS.values():
        size = c.arch.rsplit("_", 1)[1]
        if size not in best or c.top1 > best[size].top1:
            best[size] = c
    return {size: best[size].name for size in ("b0", "b1", "b2", "b3", "s", "m", "l", "xl")}


ALIASES: dict[str, str] = _best_per_size()
"""Short names: ``s`` -> the most accurate V2-S checkpoint (``tf_efficientnetv2_s.in21k_ft_in1k``), etc."""

DEFAULT_CHECKPOINT = "tf_efficientnetv2_s.in21k_ft_in1k"


def resolve_checkpoint(name: str) -> Checkpoint:
    """A checkpoint by timm name, alias (``s``), Hub repo id (``timm/...``) or model name (best checkpoint).

    An unknown name raises :class:`UnknownCheckpointError` that suggests close names.
    """
    if isinstance(name, Checkpoint):
        return name
    key = str(name).strip().lower()
    key = key.removeprefix("timm/")
    if key in CHECKPOINTS:
        return CHECKPOINTS[key]
    if key in ALIASES:
        return CHECKPOINTS[ALIASES[key]]
    size = key.removeprefix("tf_").removeprefix("efficientnetv2_")  # bare model names -> best checkpoint
    if size in ALIASES and key != size:
        return CHECKPOINTS[ALIASES[size]]
    if f"{key}_ft_in1k" in CHECKPOINTS:
        raise UnknownCheckpointError(
            f"{name!r} has a 21843-class ImageNet-21k head; only 1000-class checkpoints are supported:"
            f" use {key}_ft_in1k"
        )
    choices = [*CHECKPOINTS, *ALIASES]
    close = difflib.get_close_matches(key, choices, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(ALIASES)} or {', '.join(CHECKPOINTS)}"
    raise UnknownCheckpointError(f"unknown checkpoint {name!r}; {hint}")
