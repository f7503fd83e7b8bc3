"""EffNetV2 Explorer: EfficientNetV2, EfficientNet and EfficientNet-Lite as data, with the official weights' exact
numerics.

The public API is ``__all__`` below: build a model (:func:`create_model`), load a Hub checkpoint
(:func:`load_pretrained`), classify (:func:`predict`), count (:func:`stats`) and measure (:func:`benchmark`,
:func:`compare`). Grad-CAM is :func:`effnetv2.gradcam.grad_cam` (imported on demand: it needs captum). The app's
back end is :mod:`effnetv2.backend`, test helpers are :mod:`effnetv2.testing`; neither is imported here.
"""

from .bounds import Bound
from .checkpoints import (
    ALIASES,
    CHECKPOINTS,
    DEFAULT_CHECKPOINT,
    EMBEDDED_CHECKPOINT,
    Checkpoint,
    HubFile,
    PackageFile,
    Preprocess,
    resolve_checkpoint,
)
from .compare import Comparison, compare
from .config import ARCHS, Arch, Blocks, Stage, get_arch, list_models
from .devices import resolve_device
from .errors import (
    BackendCacheError,
    BackendError,
    BlocksError,
    CorruptWeightsError,
    DeviceError,
    EffNetV2Error,
    EmbeddedWeightsError,
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
from .hub import (
    REVISION_ENV,
    WEIGHTS_ENV,
    CheckpointStatus,
    Pretrained,
    checkpoint_status,
    checkpoint_statuses,
    default_or_embedded,
    download,
    embedded_notice,
    load_pretrained,
)
from .images import MAX_ASPECT_RATIO, MAX_IMAGE_PIXELS, open_image
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
from .profiling import Benchmark, Latency, Throughput, benchmark, stage_latency, training_throughput
from .stats import ModelStats, StageStats, model_stats, stats
from .weights import from_efficientnet_pytorch, from_timm, load_weights, read_safetensors

__all__ = [
    "ACCURATE_LOGIT_ERROR",
    "ALIASES",
    "ARCHS",
    "CHECKPOINTS",
    "DEFAULT_CHECKPOINT",
    "DTYPE_NAMES",
    "EMBEDDED_CHECKPOINT",
    "MAX_ASPECT_RATIO",
    "MAX_IMAGE_PIXELS",
    "REVISION_ENV",
    "WEIGHTS_ENV",
    "Arch",
    "BackendCacheError",
    "BackendError",
    "Benchmark",
    "Blocks",
    "BlocksError",
    "Bound",
    "Checkpoint",
    "CheckpointStatus",
    "Comparison",
    "CorruptWeightsError",
    "CpuCapabilities",
    "DeviceError",
    "DtypeSupport",
    "EffNetV2Error",
    "EfficientNet",
    "EmbeddedWeightsError",
    "EvalTransform",
    "FastPath",
    "HubError",
    "HubFile",
    "HubUnavailableError",
    "ImageError",
    "Latency",
    "MemoryLimitError",
    "ModelStats",
    "PackageFile",
    "Prediction",
    "Preprocess",
    "Pretrained",
    "Stage",
    "StageStats",
    "Throughput",
    "UnknownCheckpointError",
    "UnknownModelError",
    "UnsupportedDtypeError",
    "WeightsError",
    "WeightsMismatchError",
    "benchmark",
    "checkpoint_status",
    "checkpoint_statuses",
    "choose_fast_path",
    "compare",
    "cpu_capabilities",
    "create_model",
    "default_or_embedded",
    "download",
    "dtype_support",
    "effnetv2_l",
    "effnetv2_m",
    "effnetv2_s",
    "effnetv2_xl",
    "embedded_notice",
    "fastest_dtype",
    "from_efficientnet_pytorch",
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
    "stage_latency",
    "stats",
    "training_throughput",
]
