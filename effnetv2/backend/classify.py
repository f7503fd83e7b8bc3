"""The Classify tab: top-k predictions on a chosen inference path, Grad-CAM, and the missing-weights notice."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huggingface_hub import constants

from .. import costs, settings
from ..backends import BACKENDS_ENV, allowed_backends, served_by, served_dtype
from ..cache import LRUCache
from ..checkpoints import DEFAULT_CHECKPOINT, EMBEDDED_CHECKPOINT, resolve_checkpoint
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
from .alt_text import map_alt
from .limits import CLASS_INDEX, OPACITY, TOPK
from .public import without_paths
from .strings import DEFAULT_LANGUAGE, normalize_language, ui_text

PATHS: tuple[str, ...] = ("fast", "fp32", "plain")
"""Inference paths: the optimized model (``optimize_for_inference``) or the plain one; their labels are the
``path_*`` keys of ``strings``."""
DEFAULT_PATH = "fast"
COLORMAPS = ["jet", "turbo", "viridis", "inferno"]
_OPTIMIZED: LRUCache = LRUCache(2)
_WARMING: set[str] = set()
"""Checkpoints whose fast path a warm-up thread is choosing now: their fast requests run eager meanwhile."""
_WARMING_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def checkpoint_choices(lang: str = DEFAULT_LANGUAGE) -> list[tuple[str, str]]:
    """(label, name) for the picker: every checkpoint, saying which are usable now and which need a download
    (the ``state_*`` strings: local file, cached, embedded, needs a download, needs its package)."""
    return [(f"{s.checkpoint.name} ({ui_text('state_' + s.state, lang)})", s.checkpoint.name)
            for s in checkpoint_statuses()]  # fmt: skip


@dataclass(frozen=True)
class Startup:
    """What the Classify tab opens with: the checkpoint it selects and the one notice shown above it (or None)."""

    checkpoint: str
    notice: str | None


def startup(lang: str = DEFAULT_LANGUAGE) -> Startup:
    """The default V2 checkpoint when its weights are here; else the embedded Lite0 (real weights that ship with
    the package) with a one-line notice on how to get V2; else the default, with what is missing and why.

    No network call: start-up stays fast and works offline. Online, the Space preloads the default weights,
    so nothing changes there. The notice is in ``lang``: the engine's English line (written for the CLI too),
    or its translation from ``strings`` (the ``embedded_notice`` key, kept equal to the engine's by a test).
    """
    chosen, notice = default_or_embedded(DEFAULT_CHECKPOINT)
    if notice and chosen.name == EMBEDDED_CHECKPOINT and normalize_language(lang) != DEFAULT_LANGUAGE:
        instead = resolve_checkpoint(DEFAULT_CHECKPOINT)
        notice = ui_text("embedded_notice", lang).format(
            embedded=EMBEDDED_CHECKPOINT, name=instead.name, alias=instead.alias or instead.name
        )
    problem = notice or weights_problem(chosen.name, lang)
    return Startup(chosen.name, without_paths(problem) if problem else None)  # every visitor sees it


def startup_line(start: Startup | None = None, warming: bool = False) -> str:
    """One line for the server's log at start: the weights that serve, whether they stand in for the default
    (and why), and the backends the fast path may choose among (chosen in the background from the start when
    ``warming``, else at the first classification)."""
    start = start or startup()
    status = checkpoint_status(start.checkpoint)
    if start.checkpoint == DEFAULT_CHECKPOINT:
        role = "the default" if status.usable else f"the default, not usable yet: {status.note}"
    else:
        role = f"a fallback: the default {DEFAULT_CHECKPOINT} is not on this machine"
    backends = ", ".join(allowed_backends())
    return (
        f"EffNetV2 Explorer: serving {start.checkpoint} ({status.state}), {role}; fast-path backends: {backends} "
        f"({BACKENDS_ENV}), chosen {'in the background now' if warming else 'at the first classification'}"
    )


def inference_paths(lang: str = DEFAULT_LANGUAGE) -> list[tuple[str, str]]:
    """(label, key) of each inference path, labelled in ``lang``."""
    return [(ui_text(f"path_{key}", lang), key) for key in PATHS]


def cam_choices(checkpoint: str = DEFAULT_CHECKPOINT) -> list[str]:
    """The Grad-CAM targets the app offers: the engine's list without the stem (a map of edges, not objects)."""
    return [t for t in engine_cam_targets(get_arch(resolve_checkpoint(checkpoint).arch)) if t != STEM]


def default_cam_stage(checkpoint: str = DEFAULT_CHECKPOINT) -> str:
    """The last stage: the deepest feature map with spatial extent, the classic Grad-CAM target."""
    return cam_choices(checkpoint)[-2]


CAM_DEFAULT_STAGE = default_cam_stage()


def weights_problem(checkpoint: str = DEFAULT_CHECKPOINT, lang: str = DEFAULT_LANGUAGE) -> str | None:
    """None when the checkpoint's weights are at hand (a local file, the HF cache, the installed package), else
    why and how to fix it in ``lang``, without a server path (every visitor sees it). Makes no network call."""
    ckpt = resolve_checkpoint(checkpoint)
    try:
        status = checkpoint_status(ckpt)
    except ValueError as exc:  # EFFNETV2_WEIGHTS or EFFNETV2_REVISION set to something unusable
        return ui_text("weights_unusable", lang).format(name=ckpt.name, why=exc)
    if status.usable:
        return None
    if status.state == "install":
        return ui_text("weights_install", lang).format(name=ckpt.name, why=status.note)
    why = ui_text("weights_offline" if constants.HF_HUB_OFFLINE else "weights_not_cached", lang)
    alias = ckpt.alias or ckpt.name
    return ui_text("weights_missing_how", lang).format(name=ckpt.name, why=why, alias=alias, env=WEIGHTS_ENV)


def _path_name(path: str, lang: str) -> str:
    """A path's short name: its label up to the colon ("fast", "optimized fp32", "plain PyTorch fp32 (eager)")."""
    return re.split("[:：]", ui_text(f"path_{path}", lang))[0]


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


def warming_up(checkpoint: str) -> bool:
    """Whether a warm-up thread is choosing this checkpoint's fast path right now (never waits for it)."""
    with _WARMING_LOCK:
        return resolve_checkpoint(checkpoint).name in _WARMING


def warm_up(checkpoint: str) -> threading.Thread | None:
    """Choose ``checkpoint``'s fast path on a background thread (load, optimize, the accuracy gate, the runtimes'
    timing: seconds to minutes), so that the first visitor does not wait for it; meanwhile its ``fast`` requests
    run on the plain eager model and say so (:func:`classify`), holding no lock the warm-up holds. None when
    ``EFFNETV2_WARMUP=0`` or when the weights are not on this machine.

    The thread runs at the lowest CPU priority (Linux ``nice`` 19, per thread, inherited by the threads its torch
    work starts), so the requests served meanwhile keep the machine; it is the one piece of torch work outside the
    torch thread (``torch_thread.py``), since it must not queue behind the requests it is there to spare.
    """
    if settings.WARMUP.value() == 0 or not checkpoint_status(checkpoint).usable:
        return None  # off, or weights that would need a download: start-up makes no network call
    name = resolve_checkpoint(checkpoint).name
    with _WARMING_LOCK:
        if name in _WARMING:
            return None
        _WARMING.add(name)

    def run() -> None:
        try:
            with contextlib.suppress(OSError, AttributeError):  # not Linux: normal priority
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            start = time.perf_counter()
            pretrained_for(name, "fast")
            log.info("the fast path of %s is ready (%.1f s)", name, time.perf_counter() - start)
        except Exception as exc:  # the first fast request tries again and says why in one line
            log.warning("warming up the fast path of %s failed: %s", name, exc)
        finally:
            with _WARMING_LOCK:
                _WARMING.discard(name)

    thread = threading.Thread(target=run, name=f"effnetv2-warm-up-{name}", daemon=True)
    thread.start()
    return thread


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
    """The precision that served the forward (:func:`~effnetv2.backends.served_dtype`): fp32 on a runtime backend
    even where the eager fast path would run bf16."""
    device: str
    backend: str = "plain PyTorch (eager)"
    """What served the forward: eager PyTorch, eager oneDNN, ONNX Runtime or OpenVINO (with its version)."""
    warming: bool = False
    """The fast path was asked for while :func:`warm_up` was still choosing it: the plain eager model served."""

    @property
    def confidences(self) -> dict[str, float]:
        return {p.label: float(p.prob) for p in self.predictions}

    def timing_markdown(self, lang: str = DEFAULT_LANGUAGE) -> str:
        """One line: the time, and what served it (device, the precision that ran, path, backend, checkpoint)."""
        line = ui_text("timing_line", lang).format(
            ms=self.ms,
            device=self.device,
            dtype=self.dtype,
            path=_path_name(self.path, lang),
            backend=self.backend,
            checkpoint=self.checkpoint,
        )
        return line + ui_text("timing_warming", lang) if self.warming else line

    def to_dict(self) -> dict:
        return {
            "predictions": [p.to_dict() for p in self.predictions],
            **{k: getattr(self, k) for k in ("ms", "checkpoint", "path", "dtype", "device", "backend", "warming")},
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
    warming = _check_path(path) == "fast" and warming_up(checkpoint)
    pre, dtype = pretrained_for(checkpoint, "plain" if warming else path)
    _check_cost(pre, "this classification")
    start = time.perf_counter()
    predictions = predict(pre, [source], k)[0]  # decodes the image once, inside the timed span
    ms = (time.perf_counter() - start) * 1e3
    served, precision = served_by(pre.model), served_dtype(pre.model, dtype)
    return ClassifyResult(predictions, ms, pre.checkpoint.name, path, precision, str(pre.device), served, warming)


@dataclass
class GradCamResult:
    overlay: Any
    crop: Any
    caption: str
    cam: CamResult
    """The engine's result (raw maps, classes, scores)."""
    alt: str = ""
    """The overlay's alt text: where the map is strongest and how concentrated (``backend.alt_text``)."""


@dataclass(frozen=True)
class Shown:
    """The probability the predictions beside the map show for the class, and the path and precision they ran
    in: the Grad-CAM caption names both numbers by path instead of a second, unlabelled one."""

    prob: float
    path: str
    dtype: str


def shown_probability(predictions: Any, label: str, checkpoint: str, path: str) -> Shown | None:
    """``label``'s probability in a ``gr.Label`` payload of the predictions (``{"confidences": [{"label",
    "confidence"}]}``), with the precision ``path`` serves in; None when the payload does not hold the class."""
    rows = predictions.get("confidences") if isinstance(predictions, dict) else None
    prob = next((r.get("confidence") for r in rows or [] if isinstance(r, dict) and r.get("label") == label), None)
    if not isinstance(prob, (int, float)) or path not in PATHS:
        return None
    pre, dtype = pretrained_for(checkpoint, path)  # cached by the classification that made the payload
    return Shown(float(prob), path, served_dtype(pre.model, dtype))


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
    lang: str = DEFAULT_LANGUAGE,
    shown: Callable[[str], Shown | None] | None = None,
) -> GradCamResult:
    """Grad-CAM of one class (``-1`` = the top-1) at a stage, overlaid on the exact crop the model saw.

    Runs on the plain fp32 model: gradients need it, and the map should not depend on the fast path. Its
    probability may differ from the fast path's (bf16 rounds), so the caption labels it "plain fp32", and
    ``shown`` (class label -> what the predictions show) puts the predictions' number beside it, by path.
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
    caption = ui_text("cam_caption", lang).format(stage=cam.target, index=c, label=label, p=p)
    beside = shown(label) if shown is not None else None
    if beside is not None and beside.path != "plain":
        path = _path_name(beside.path, lang)
        caption += ui_text("cam_caption_shown", lang).format(p=beside.prob, path=path, dtype=beside.dtype)
    alt = map_alt(cam.maps[0], "Grad-CAM", label, cam.target, lang)
    return GradCamResult(cam.overlays[0], crop, caption, cam, alt)
