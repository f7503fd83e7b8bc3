"""EffNetV2 Explorer: EfficientNetV2 and EfficientNet as data, with the official weights' exact numerics."""

from .config import ARCHS, Arch, Stage, get_arch, list_models
from .errors import (
    BlocksError,
    CorruptWeightsError,
    EffNetV2Error,
    UnknownModelError,
    WeightsError,
    WeightsMismatchError,
)
from .model import EfficientNet, create_model, effnetv2_l, effnetv2_m, effnetv2_s, effnetv2_xl
from .stats import ModelStats, StageStats, model_stats, stats
from .weights import from_timm, load_weights, read_safetensors

__all__ = [
    "ARCHS",
    "Arch",
    "BlocksError",
    "CorruptWeightsError",
    "EffNetV2Error",
    "EfficientNet",
    "ModelStats",
    "Stage",
    "StageStats",
    "UnknownModelError",
    "WeightsError",
    "WeightsMismatchError",
    "create_model",
    "effnetv2_l",
    "effnetv2_m",
    "effnetv2_s",
    "effnetv2_xl",
    "from_timm",
    "get_arch",
    "list_models",
    "load_weights",
    "model_stats",
    "read_safetensors",
    "stats",
]
