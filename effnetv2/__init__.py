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
from .errors import (
    BlocksError,
    CorruptWeightsError,
    EffNetV2Error,
    HubError,
    HubUnavailableError,
    ImageError,
    UnknownCheckpointError,
    UnknownModelError,
    WeightsError,
    WeightsMismatchError,
)
from .hub import WEIGHTS_ENV, Pretrained, download, load_pretrained, resolve_device
from .images import MAX_IMAGE_PIXELS, open_image
from .inference import Prediction, predict
from .labels import imagenet_labels
from .model import EfficientNet, create_model, effnetv2_l, effnetv2_m, effnetv2_s, effnetv2_xl
from .preprocess import EvalTransform
from .stats import ModelStats, StageStats, model_stats, stats
from .weights import from_timm, load_weights, read_safetensors

__all__ = [
    "ALIASES",
    "ARCHS",
    "CHECKPOINTS",
    "DEFAULT_CHECKPOINT",
    "MAX_IMAGE_PIXELS",
    "WEIGHTS_ENV",
    "Arch",
    "BlocksError",
    "Checkpoint",
    "CorruptWeightsError",
    "EffNetV2Error",
    "EfficientNet",
    "EvalTransform",
    "HubError",
    "HubUnavailableError",
    "ImageError",
    "ModelStats",
    "Prediction",
    "Preprocess",
    "Pretrained",
    "Stage",
    "StageStats",
    "UnknownCheckpointError",
    "UnknownModelError",
    "WeightsError",
    "WeightsMismatchError",
    "create_model",
    "download",
    "effnetv2_l",
    "effnetv2_m",
    "effnetv2_s",
    "effnetv2_xl",
    "from_timm",
    "get_arch",
    "imagenet_labels",
    "list_models",
    "load_pretrained",
    "load_weights",
    "model_stats",
    "open_image",
    "predict",
    "read_safetensors",
    "resolve_checkpoint",
    "resolve_device",
    "stats",
]
