"""EffNetV2 Explorer: EfficientNetV2 and EfficientNet as data, with the official weights' exact numerics."""

from .checkpoints import (
    ALIASES,
    CHECKPOINTS,
    DEFAULT_CHECKPOINT,
    Checkpoint,
    Preprocess,
    resolve_checkpoint,
)
from .config import ARCHS, Arch, Stage, get_arch, list_models
from .devices import resolve_device
from .errors import (
    BackendCacheError,
    BackendError,
    BlocksError,
    CorruptWeightsError,
    DeviceError,
    EffNetV2Error,
    HubError,
    HubUnavailableError,
    ImageError,
    MemoryLimitError,
    UnknownCheckpointError,
    UnknownModelError,
    UnsupportedDtypeError,
    WeightsError,
    WeightsMismatchError,
)
from .hub import REVISION_ENV, WEIGHTS_ENV, Pretrained, download, load_pretrained
from .images import MAX_IMAGE_PIXELS, open_image
from .inference import Prediction, predict
from .labels import imagenet_labels
from .model import EfficientNet, create_model, effnetv2_l, effnetv2_m, effnetv2_s, effnetv2_xl
from .optimize import (
    ACCURATE_LOGIT_ERROR,
    FastPath,
    choose_fast_path,
    logit_error,
    measure_logit_error,
    optimize_for_inference,
)
from .precision import DTYPE_NAMES, CpuCapabilities, DtypeSupport, cpu_capabilities, dtype_support, fastest_dtype
from .preprocess import EvalTransform
from .stats import ModelStats, StageStats, model_stats, stats
from .weights import from_timm, load_weights, read_safetensors

__all__ = [
    "ACCURATE_LOGIT_ERROR",
    "ALIASES",
    "ARCHS",
    "CHECKPOINTS",
    "DEFAULT_CHECKPOINT",
    "DTYPE_NAMES",
    "MAX_IMAGE_PIXELS",
    "REVISION_ENV",
    "WEIGHTS_ENV",
    "Arch",
    "BackendCacheError",
    "BackendError",
    "BlocksError",
    "Checkpoint",
    "CorruptWeightsError",
    "CpuCapabilities",
    "DeviceError",
    "DtypeSupport",
    "EffNetV2Error",
    "EfficientNet",
    "EvalTransform",
    "FastPath",
    "HubError",
    "HubUnavailableError",
    "ImageError",
    "MemoryLimitError",
    "ModelStats",
    "Prediction",
    "Preprocess",
    "Pretrained",
    "Stage",
    "StageStats",
    "UnknownCheckpointError",
    "UnknownModelError",
    "UnsupportedDtypeError",
    "WeightsError",
    "WeightsMismatchError",
    "choose_fast_path",
    "cpu_capabilities",
    "create_model",
    "download",
    "dtype_support",
    "effnetv2_l",
    "effnetv2_m",
    "effnetv2_s",
    "effnetv2_xl",
    "fastest_dtype",
    "from_timm",
    "get_arch",
    "imagenet_labels",
    "list_models",
    "load_pretrained",
    "load_weights",
    "logit_error",
    "measure_logit_error",
    "model_stats",
    "open_image",
    "optimize_for_inference",
    "predict",
    "read_safetensors",
    "resolve_checkpoint",
    "resolve_device",
    "stats",
]
