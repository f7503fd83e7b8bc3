"""EffNetV2 Explorer: EfficientNetV2 and EfficientNet as data, with the official weights' exact numerics."""

from .config import ARCHS, Arch, Stage, get_arch, list_models
from .errors import (
    BlocksError,
    CorruptWeightsError,
    DeviceError,
    EffNetV2Error,
    UnknownModelError,
    UnsupportedDtypeError,
    WeightsError,
    WeightsMismatchError,
)
from .model import EfficientNet, create_model, effnetv2_l, effnetv2_m, effnetv2_s, effnetv2_xl
from .optimize import (
    ACCURATE_LOGIT_ERROR,
    DtypeSupport,
    dtype_support,
    fastest_dtype,
    logit_error,
    measure_logit_error,
    optimize_for_inference,
)
from .stats import ModelStats, StageStats, model_stats, stats
from .weights import from_timm, load_weights, read_safetensors

__all__ = [
    "ACCURATE_LOGIT_ERROR",
    "ARCHS",
    "Arch",
    "BlocksError",
    "CorruptWeightsError",
    "DeviceError",
    "DtypeSupport",
    "EffNetV2Error",
    "EfficientNet",
    "ModelStats",
    "Stage",
    "StageStats",
    "UnknownModelError",
    "UnsupportedDtypeError",
    "WeightsError",
    "WeightsMismatchError",
    "create_model",
    "dtype_support",
    "effnetv2_l",
    "effnetv2_m",
    "effnetv2_s",
    "effnetv2_xl",
    "fastest_dtype",
    "from_timm",
    "get_arch",
    "list_models",
    "load_weights",
    "logit_error",
    "measure_logit_error",
    "model_stats",
    "optimize_for_inference",
    "read_safetensors",
    "stats",
]
