"""The Classify tab: top-k predictions on a chosen inference path, Grad-CAM, and the missing-weights notice."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from huggingface_hub import constants

from .. import costs
from ..backends import served_by
from ..cache import LRUCache
from ..checkpoints import DEFAULT_CHECKPOINT, resolve_checkpoint
from ..config import get_arch
from ..errors import BoundsError
from ..gradcam import CamResult, grad_cam
from ..gradcam import cam_targets as engine_cam_targets
from ..hub import WEIGHTS_ENV, Pretrained, checkpoint_status, checkpoint_statuses, default_or_embedded, load_pretrained
from ..images import open_image
from ..inference import Prediction, predict
from ..names import STEM
from ..optimize import choose_fast_path, optimize_for_inference
from ..samples import photos
from .limits import CLASS_INDEX, OPACITY, TOPK
from .public import without_paths

PATHS: dict[str, str] = {
    "fast": "fast: folded BatchNorm, channels_last, bf16/fp16 where the hardware has it",
    "fp32": "optimized fp32: folded BatchNorm, channels_last (same logits)",
    "plain": "plain PyTorch fp32 (eager)",
}
"""Inference paths: the optimized model (``optimize_for_inference``) or the plain one."""
DEFAULT_PATH = "fast"
COLORMAPS = ["jet", "turbo", "viridis", "inferno"]
_OPTIMIZED: LRUCache = LRUCache(2)


_STATE_LABELS = {"local": "local file", "cached": "cached", "embedded": "embedded", "download": "needs a download",
                 "install": "needs its package"}  # fmt: skip


def checkpoint_choices() -> list[tuple[str, str]]:
    """(label, name) for the picker: every checkpoint, saying which are usable now and which need a download."""
    return [(f"{s.checkpoint.name} ({_STATE_LABELS[s.state]})", s.checkpoint.name) for s in checkpoint_statuses()]


@dataclass(frozen=True)
class Startup:
    """What the Classify tab opens with: the checkpoint it selects and the one notice shown above it (or None)."""

    checkpoint: str
    notice: str | None


def startup() -> Startup:
    """The default V2 checkpoint when its weights are here; else the embedded Lite0 (real weights that ship with
    the package) with a one-line notice on how to get V2; else the default, with what is missing and why.

    No network call: start-up stays fast and works offline. Online, the Space preloads the default weights,
    so nothing changes there.
    """
    chosen, notice = default_or_embedded(DEFAULT_CHECKPOINT)
    problem = notice or weights_problem(chosen.name)
    return Startup(chosen.name, without_paths(problem) if problem else None)  # every visitor sees it


def inference_paths() -> list[tuple[str, str]]:
    return [(label, key) for key, label in PATHS.items()]


def cam_choices(checkpoint: str = DEFAULT_CHECKPOINT) -> list[str]:
    """The Grad-CAM targets the app offers: the engine's list without the stem (a map of edges, not objects)."""
    return [t for t in engine_cam_targets(get_arch(resolve_checkpoint(checkpoint).arch)) if t != STEM]


def default_cam_stage(checkpoint: str = DEFAULT_CHECKPOINT) -> str:
    """The last stage: the deepest feature map with spatial extent, the classic Grad-CAM target."""
    return cam_choices(checkpoint)[-2]


CAM_DEFAULT_STAGE = default_cam_stage()


def weights_problem(checkpoint: str = DEFAULT_CHECKPOINT) -> str | None:
    """None when the checkpoint's weights are at hand (a local file, the HF cache, the installed package), else
    why and how to fix it, without a server path (every visitor sees it). Makes no network call."""
    ckpt = resolve_checkpoint(checkpoint)
    try:
        status = checkpoint_status(ckpt)
    except ValueError as exc:  # EFFNETV2_WEIGHTS or EFFNETV2_REVISION set to something unusable
        return f"**Pretrained weights for `{ckpt.name}` are not usable:** {exc}"
    if status.usable:
        return None
    if status.state == "install":
        return f"**Pretrained weights for `{ckpt.name}`:** {status.note}"
    why = (
        "HF_HUB_OFFLINE is set and they are not in the local cache"
        if constants.HF_HUB_OFFLINE
        else "they are not in the local cache yet; the first classification will try to download them from "
        "the Hugging Face Hub"
    )
    return (
        f"**Pretrained weights for `{ckpt.name}`:** {why}. To fix it, run "
        f"`python -m effnetv2 download {ckpt.alias or ckpt.name}` on a machine with internet access (then copy "
        f"the cache), or point `{WEIGHTS_ENV}` at a local `model.safetensors`. The Latency, Lab and Walkthrough "
        "tabs use randomly initialised models and work without any download."
    )


def _check_path(path: str) -> str:
    if path not in PATHS:
        raise BoundsError(f"inference path must be one of {', '.join(PATHS)}, got {path!r}")
    return path


def pretrained_for(checkpoint: str, path: str = "plain") -> tuple[Pretrained, str]:
    """The loaded checkpoint, with its model replaced by the optimized one on the ``fast``/``fp32`` paths."""
    _check_path(path)
    pre = load_pretrained(checkpoint)
    if path == "plain":
        return pre, "fp32"
    key = (pre.checkpoint.name, str(pre.device), path, id(pre.model))
    model, dtype = _OPTIMIZED.get(key, lambda: _optimized(pre, path))
    return dataclasses.replace(pre, model=model), dtype


def _optimized(pre: Pretrained, path: str):
    """(model, dtype): the fast path keeps reduced precision only where it is accurate for this checkpoint.

    Accurate = logits within ``ACCURATE_LOGIT_ERROR`` (2%) of the plain model's logit range on every sample
    photo, measured once per checkpoint and device at the eval size (:func:`~effnetv2.optimize.choose_fast_path`);
    otherwise the optimized fp32 model is used.
    """
    if path == "fp32":
        return optimize_for_inference(pre.model, dtype="fp32", device=pre.device, backend="eager"), "fp32"
    fast = choose_fast_path(pre.model, photos(pre.transform), pre.device)
    return fast.model, fast.dtype


@dataclass
class ClassifyResult:
    predictions: list[Prediction]
    ms: float
    """Decoding, preprocessing, forward and softmax/top-k, measured around ``predict``."""
    checkpoint: str
    path: str
    dtype: str
    device: str
    backend: str = "plain PyTorch (eager)"
    """What served the forward: eager PyTorch, eager oneDNN, ONNX Runtime or OpenVINO (with its version)."""

    @property
    def confidences(self) -> dict[str, float]:
        return {p.label: float(p.prob) for p in self.predictions}

    def timing_markdown(self) -> str:
        return (
            f"**{self.ms:.1f} ms** — decoding, preprocessing and forward on {self.device}, {self.dtype} "
            f"({PATHS[self.path].split(':')[0]}), served by {self.backend}, {self.checkpoint}"
        )

    def to_dict(self) -> dict:
        return {
            "predictions": [p.to_dict() for p in self.predictions],
            **{k: getattr(self, k) for k in ("ms", "checkpoint", "path", "dtype", "device", "backend")},
        }


def _check_cost(pre: Pretrained, what: str, backward: bool = False) -> None:
    """One image at the checkpoint's size (with a backward pass for Grad-CAM) against the free memory: cheap
    (shapes cached per checkpoint), and a machine already short of memory refuses in one line, not by dying."""
    arch = get_arch(pre.checkpoint.arch)
    config = ((arch.default_blocks, pre.transform.size),)
    work = costs.Work(arch.name, config, train_batch=int(backward), train_steps=int(backward), device=str(pre.device))
    costs.Policy().check(work, what)


def _given(image: Any) -> Any:
    if image is None:
        raise BoundsError("no image: upload one, paste one or pick an example")
    return image


def classify(image: Any, checkpoint: str = DEFAULT_CHECKPOINT, topk: Any = TOPK.default, path: str = DEFAULT_PATH):
    """Top-k classes of one image and the request's inference time.

    The crop the model saw comes with Grad-CAM (:func:`gradcam`), not here: encoding and fetching an image
    would add to every request's time.
    """
    k = TOPK.check(topk, strict=True)
    source = _given(image)
    pre, dtype = pretrained_for(checkpoint, _check_path(path))
    _check_cost(pre, "this classification")
    start = time.perf_counter()
    predictions = predict(pre, [source], k)[0]  # decodes the image once, inside the timed span
    ms = (time.perf_counter() - start) * 1e3
    served = served_by(pre.model)
    return ClassifyResult(predictions, ms, pre.checkpoint.name, path, dtype, str(pre.device), served)


@dataclass
class GradCamResult:
    overlay: Any
    crop: Any
    caption: str
    cam: CamResult
    """The engine's result (raw maps, classes, scores)."""


def _opacity(value: Any) -> float:
    alpha = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not OPACITY[0] <= alpha <= OPACITY[1]:
        raise BoundsError(f"opacity must be from {OPACITY[0]} to {OPACITY[1]}, got {value!r}")
    return alpha


def gradcam(
    image: Any,
    checkpoint: str = DEFAULT_CHECKPOINT,
    stage: str = CAM_DEFAULT_STAGE,
    target: Any = -1,
    opacity: Any = 0.5,
    colormap: str = COLORMAPS[0],
) -> GradCamResult:
    """Grad-CAM of one class (``-1`` = the top-1) at a stage, overlaid on the exact crop the model saw.

    Runs on the plain fp32 model: gradients need it, and the map should not depend on the fast path.
    """
    choices = cam_choices(checkpoint)
    if stage not in choices:
        raise BoundsError(f"Grad-CAM stage must be one of {', '.join(choices)}, got {stage!r}")
    if colormap not in COLORMAPS:
        raise BoundsError(f"colormap must be one of {', '.join(COLORMAPS)}, got {colormap!r}")
    cls = CLASS_INDEX.check(target)
    alpha = _opacity(opacity)
    img = open_image(_given(image))
    pre = load_pretrained(checkpoint)
    _check_cost(pre, "this Grad-CAM", backward=True)
    crop = pre.transform.crop(img)
    x = pre.transform.to_tensor(crop).unsqueeze(0)
    cam = grad_cam(
        pre.model,
        x,
        target=stage,
        classes=None if cls < 0 else [cls],
        image=crop,
        opacity=alpha,
        colormap=colormap,
        labels=pre.labels,
    )
    c, label, p = cam.classes[0], cam.labels[0], cam.scores[0]
    caption = f"Grad-CAM at **{cam.target}** for class {c} **{label}** (p = {p:.1%})"
    return GradCamResult(cam.overlays[0], crop, caption, cam)
