"""What the app's events call: input bounds, model caching, presets and result formatting, free of Gradio.

Every function here takes plain values and returns plain values (dicts, PIL images, plotly figures), so the
tests and other front ends call exactly what the browser calls. Bad input raises :class:`BoundsError` or
another ``EffNetV2Error`` with a one-line message; the app turns those into ``gr.Error``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .config import get_arch, list_models
from .errors import BoundsError
from .stats import stats

T = TypeVar("T")


@dataclass(frozen=True)
class Bound:
    """An inclusive integer range with a default: what a slider shows and what the API accepts."""

    name: str
    low: int
    high: int
    default: int

    def check(self, value: Any) -> int:
        """``value`` as an int inside the range, or :class:`BoundsError` saying what is allowed."""
        whole = f"{self.name} must be a whole number from {self.low} to {self.high}, got {value!r}"
        if isinstance(value, bool):
            raise BoundsError(whole)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BoundsError(whole) from None
        if not math.isfinite(number) or number != int(number):
            raise BoundsError(whole)
        if not self.low <= number <= self.high:
            raise BoundsError(f"{self.name} must be from {self.low} to {self.high}, got {int(number)}")
        return int(number)


# Every numeric input of the app is bounded, so that no request can hold the single torch queue for long on a
# 2-vCPU machine (env vars raise the limits on bigger hardware).
def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


TOPK = Bound("top-k", 1, 10, 5)
RUNS = Bound("runs", 1, _env_int("EFFNETV2_MAX_RUNS", 30), 5)
BATCH = Bound("batch", 1, _env_int("EFFNETV2_MAX_BATCH", 16), 1)
IMAGE_SIZE = Bound("image size", 32, _env_int("EFFNETV2_MAX_IMAGE_SIZE", 640), 224)
TRAIN_BATCH = Bound("training batch", 1, _env_int("EFFNETV2_MAX_TRAIN_BATCH", 8), 4)
MAX_FILE_SIZE = os.environ.get("EFFNETV2_MAX_FILE_SIZE", "10mb")
"""Upload limit passed to ``launch(max_file_size=...)``."""
QUEUE_SIZE = _env_int("EFFNETV2_QUEUE_SIZE", 32)
"""Requests waiting in the queue beyond which new ones are refused politely."""
SESSION_CAPACITY = _env_int("EFFNETV2_SESSION_CAPACITY", 200)
"""Browser/API sessions whose state the server keeps (the oldest go first). Gradio keeps a copy of the app's
component config per session, about 200 kB here, and every REST call without a session is a new one: with
Gradio's default of 10000 the memory of a busy server grows by up to 2 GB."""
OPACITY = (0.0, 1.0)

# ---------------------------------------------------------------------------------------------------------
# One long-lived thread for torch work

TORCH_THREAD_NAME = "effnetv2-torch"
_TORCH_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix=TORCH_THREAD_NAME)


def _on_torch_thread(fn: Callable[..., T], args: tuple, kwargs: dict) -> Future[T]:
    ctx = contextvars.copy_context()  # e.g. Gradio's progress tracking lives in context variables
    return _TORCH_EXECUTOR.submit(ctx.run, fn, *args, **kwargs)


def on_torch_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` on one dedicated, long-lived thread (calls wait for it; context variables are carried over).

    Why: on CPU, OpenMP thread teams and oneDNN's per-thread state belong to the *calling* thread, and a
    forward from a thread that has not run one recently is much slower (V2-S at 384 on 2 cores: 222 ms from
    one thread, 313 ms from a fresh thread per call). Web servers hand requests to whichever worker thread is
    free; funnelling torch work through one thread keeps it warm, and also serialises it, so timings do not
    disturb each other. Nested calls run inline.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        if threading.current_thread().name.startswith(TORCH_THREAD_NAME):
            return fn(*args, **kwargs)
        return _on_torch_thread(fn, args, kwargs).result()

    return wrapper


async def run_on_torch_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the torch thread (see :func:`on_torch_thread`), awaited from an event loop.

    Why: a web server runs a *sync* handler on a worker thread, which would then wait for the torch thread:
    two thread hops per request. An async handler awaiting this makes one (about 1 ms less per request on
    2 cores), and the event loop stays free meanwhile.
    """
    return await asyncio.wrap_future(_on_torch_thread(fn, args, kwargs))


# ---------------------------------------------------------------------------------------------------------
# Lab presets


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    model: str | None
    """The model the preset switches to, or None to keep the selected one."""
    blocks: Callable[[str], str]


def _published(model: str) -> str:
    return get_arch(model).default_blocks


def _all(letter: str) -> Callable[[str], str]:
    return lambda model: letter * len(get_arch(model).stages)


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("published", "As published", None, _published),
        Preset("all_mbconv", "All MBConv", None, _all("M")),
        Preset("all_fused", "All Fused-MBConv", None, _all("F")),
        Preset("b4_fused_1_3", "Table 3: EfficientNet-B4, fused stages 1-3", "efficientnet_b4", lambda m: "FFFMMMM"),
        Preset("b4_fused_1_5", "Table 3: EfficientNet-B4, fused stages 1-5", "efficientnet_b4", lambda m: "FFFFFMM"),
        Preset("b4_fused_1_7", "Table 3: EfficientNet-B4, fused stages 1-7", "efficientnet_b4", lambda m: "FFFFFFF"),
    )
}


def apply_preset(preset: str, model: str) -> tuple[str, str]:
    """(model, blocks) after choosing a preset; accepts the preset's key or its label."""
    match = next((p for p in PRESETS.values() if preset in (p.key, p.label)), None)
    if match is None:
        raise BoundsError(f"unknown preset {preset!r}; known: {', '.join(p.label for p in PRESETS.values())}")
    model = match.model or model
    return model, match.blocks(model)


def stage_choices(model: str) -> list[str]:
    return [f"stage{i}" for i in range(1, len(get_arch(model).stages) + 1)]


def blocks_from_fused(model: str, fused: list[str] | None) -> str:
    """The per-stage toggles (the names of the Fused-MBConv stages) -> a blocks string like ``FFFMMM``."""
    names = stage_choices(model)
    fused = set(fused or ())
    unknown = sorted(fused - set(names))
    if unknown:
        raise BoundsError(f"{model} has stages {names[0]}-{names[-1]}; unknown: {', '.join(unknown)}")
    return "".join("F" if n in fused else "M" for n in names)


def fused_from_blocks(model: str, blocks: str | None) -> list[str]:
    letters = get_arch(model).validate_blocks(blocks or None)
    return [f"stage{i}" for i, ch in enumerate(letters, start=1) if ch == "F"]


def check_model(model: str) -> str:
    return get_arch(model).name


def models() -> list[str]:
    return list_models()


def default_image_size(model: str) -> int:
    return get_arch(model).image_size


# ---------------------------------------------------------------------------------------------------------
# Tables made from effnetv2.stats


def stage_rows(model: str, blocks: str | None = None, image_size: int | None = None) -> list[list]:
    """The paper's Table 4 for any model: stage, operator, stride, channels, layers, params, MMACs."""
    size = IMAGE_SIZE.check(image_size) if image_size else None
    s = stats(model, blocks or None, size)
    return [[r.name, r.block, r.stride, r.channels, r.layers, r.params, round(r.macs / 1e6, 1)] for r in s.stages]


def variant_counts(model: str, blocks_list: list[str], image_size: int | None = None) -> dict[str, tuple[int, int]]:
    """{blocks: (params, MACs)} counted on the meta device (instant)."""
    out = {}
    for b in blocks_list:
        s = stats(model, b, image_size)
        out[s.blocks] = (s.params, s.macs)
    return out


# ---------------------------------------------------------------------------------------------------------
# A small, bounded, thread-safe cache (loaded checkpoints, built models)


class LRUCache(Generic[T]):
    """Keeps at most ``maxsize`` values; ``get_or_create`` builds a missing one under a lock (no double loads)."""

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, key: Hashable, create: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = create()
            self._items[key] = value
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# ---------------------------------------------------------------------------------------------------------
# Pretrained weights: where they come from and what to say when they are missing

DEFAULT_CHECKPOINT = "tf_efficientnetv2_s.in21k_ft_in1k"


def checkpoint_choices() -> list[str]:
    from .checkpoints import CHECKPOINTS

    return list(CHECKPOINTS)


def weights_problem(checkpoint: str = DEFAULT_CHECKPOINT) -> str | None:
    """None when the checkpoint's weights are at hand (EFFNETV2_WEIGHTS or the HF cache), else why and how to fix.

    Makes no network call, so start-up stays fast and works offline.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    from .checkpoints import resolve_checkpoint
    from .hub import REVISION_ENV, WEIGHTS_ENV, revision_from_env, weights_from_env

    ckpt = resolve_checkpoint(checkpoint)
    try:
        local = weights_from_env(ckpt)
    except ValueError as exc:
        return f"**{WEIGHTS_ENV} is not usable:** {exc}"
    if local is not None:
        return None if local.is_file() else f"**{WEIGHTS_ENV} names {local}, which is not a file.**"
    try:
        revision = revision_from_env(ckpt)
    except ValueError as exc:
        return f"**{REVISION_ENV} is not usable:** {exc}"
    if isinstance(try_to_load_from_cache(ckpt.repo_id, ckpt.filename, revision=revision), str):
        return None
    offline = constants.HF_HUB_OFFLINE
    why = (
        "HF_HUB_OFFLINE is set and they are not in the local cache"
        if offline
        else "they are not in the local cache yet; the first classification will try to download them from "
        "the Hugging Face Hub (about 86 MB for V2-S)"
    )
    return (
        f"**Pretrained weights for `{ckpt.name}`:** {why} (`{constants.HF_HUB_CACHE}`). To fix it, run "
        f"`python -m effnetv2 download {ckpt.name}` on a machine with internet access (then copy the cache), "
        f"or point `{WEIGHTS_ENV}` at a local `model.safetensors`. The Latency, Lab and Walkthrough tabs use "
        "randomly initialised models and work without any download."
    )


# ---------------------------------------------------------------------------------------------------------
# Classification and Grad-CAM

PATHS: dict[str, str] = {
    "fast": "fast: folded BatchNorm, channels_last, bf16/fp16 where the hardware has it",
    "fp32": "optimized fp32: folded BatchNorm, channels_last (same logits)",
    "plain": "plain PyTorch fp32 (eager)",
}
"""Inference paths of the Classify tab: the optimized model (perf's ``optimize_for_inference``) or the plain one."""
DEFAULT_PATH = "fast"
_OPTIMIZED: LRUCache = LRUCache(2)


def inference_paths() -> list[tuple[str, str]]:
    return [(label, key) for key, label in PATHS.items()]


def _check_path(path: str) -> str:
    if path not in PATHS:
        raise BoundsError(f"inference path must be one of {', '.join(PATHS)}, got {path!r}")
    return path


def pretrained_for(checkpoint: str, path: str = "plain"):
    """The loaded checkpoint, with its model replaced by the optimized one on the ``fast``/``fp32`` paths."""
    import dataclasses

    from .hub import load_pretrained

    _check_path(path)
    pre = load_pretrained(checkpoint)
    if path == "plain":
        return pre, "fp32"
    key = (pre.checkpoint.name, str(pre.device), path, id(pre.model))
    model, dtype = _OPTIMIZED.get_or_create(key, lambda: _optimized(pre, path))
    return dataclasses.replace(pre, model=model), dtype


def _optimized(pre, path: str):
    """(model, dtype): the fast path keeps reduced precision only where it is accurate for this checkpoint.

    Accurate = logits within ``ACCURATE_LOGIT_ERROR`` (2%) of the plain model's logit range on every sample
    photo, measured once per checkpoint and device at the eval size; otherwise the optimized fp32 model is used.
    """
    from .optimize import choose_fast_path, optimize_for_inference
    from .samples import photos

    if path == "fp32":
        return optimize_for_inference(pre.model, dtype="fp32", device=pre.device), "fp32"
    fast = choose_fast_path(pre.model, photos(pre.transform), pre.device)
    return fast.model, fast.dtype


@dataclass
class ClassifyResult:
    predictions: list
    ms: float
    """Decoding, preprocessing, forward and softmax/top-k, measured around ``predict``."""
    checkpoint: str
    path: str
    dtype: str
    device: str

    @property
    def confidences(self) -> dict[str, float]:
        return {p.label: float(p.prob) for p in self.predictions}

    def timing_markdown(self) -> str:
        return (
            f"**{self.ms:.1f} ms** — decoding, preprocessing and forward on {self.device}, {self.dtype} "
            f"({PATHS[self.path].split(':')[0]}), {self.checkpoint}"
        )


def _given(image: Any) -> Any:
    if image is None:
        raise BoundsError("no image: upload one, paste one or pick an example")
    return image


def _open(image: Any):
    from .images import open_image

    return open_image(_given(image))


def classify(image: Any, checkpoint: str = DEFAULT_CHECKPOINT, topk: Any = 5, path: str = DEFAULT_PATH):
    """Top-k classes of one image and the request's inference time.

    The crop the model saw comes with Grad-CAM (:func:`gradcam`), not here: encoding and fetching an image
    would add to every request's time.
    """
    import time

    from .inference import predict

    k = TOPK.check(topk)
    source = _given(image)
    pre, dtype = pretrained_for(checkpoint, _check_path(path))
    start = time.perf_counter()
    predictions = predict(pre, [source], k)[0]  # decodes the image once, inside the timed span
    ms = (time.perf_counter() - start) * 1e3
    return ClassifyResult(predictions, ms, pre.checkpoint.name, path, dtype, str(pre.device))


# ---------------------------------------------------------------------------------------------------------
# The walkthrough's measurements and tables


def table3_counts() -> dict[str, tuple[int, int]]:
    """Params and MACs of the paper's four B4 variants at B4's 380 px, counted on the meta device."""
    from .walkthrough import PAPER_TABLE3, TABLE3_MODEL

    return _cached_counts(TABLE3_MODEL, tuple(v.blocks for v in PAPER_TABLE3))


@functools.lru_cache(maxsize=8)
def _cached_counts(model: str, blocks: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    return variant_counts(model, list(blocks))


def table3(lang: str = "en", measured: dict[str, float] | None = None) -> list[list]:
    """The paper's Table 3 beside this app's counts and (when given) this machine's training images/s."""
    from .walkthrough import table3_rows

    return table3_rows(lang, table3_counts(), measured)


# ---------------------------------------------------------------------------------------------------------
# Choices shown by the Latency and Grad-CAM controls

DTYPES = ["fp32", "bf16", "fp16"]
COLORMAPS = ["jet", "turbo", "viridis", "inferno"]


def cam_stages(checkpoint: str = DEFAULT_CHECKPOINT) -> list[str]:
    """Grad-CAM targets of a checkpoint's architecture: every stage's output and the head's feature map."""
    from .checkpoints import resolve_checkpoint

    n = len(get_arch(resolve_checkpoint(checkpoint).arch).stages)
    return [*(f"stage{i}" for i in range(1, n + 1)), "head"]


CAM_STAGES = cam_stages()
CAM_DEFAULT_STAGE = CAM_STAGES[-2]
"""The last stage: the deepest feature map with spatial extent, the classic Grad-CAM target."""


def device_choices() -> list[str]:
    import torch

    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ---------------------------------------------------------------------------------------------------------
# Grad-CAM, latency and the lab: thin, bounded wrappers over the engine (gradcam, profiling, compare)


@dataclass
class GradCamResult:
    overlay: Any
    crop: Any
    caption: str
    cam: Any
    """The engine's :class:`effnetv2.gradcam.CamResult` (raw maps, classes, scores)."""


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
    from .gradcam import grad_cam

    if stage not in cam_stages(checkpoint):
        raise BoundsError(f"Grad-CAM stage must be one of {', '.join(cam_stages(checkpoint))}, got {stage!r}")
    if colormap not in COLORMAPS:
        raise BoundsError(f"colormap must be one of {', '.join(COLORMAPS)}, got {colormap!r}")
    cls = Bound("class", -1, 999, -1).check(target)
    alpha = float(opacity) if isinstance(opacity, (int, float)) and not isinstance(opacity, bool) else math.nan
    if not OPACITY[0] <= alpha <= OPACITY[1]:
        raise BoundsError(f"opacity must be from {OPACITY[0]} to {OPACITY[1]}, got {opacity!r}")
    img = _open(image)
    pre = _load(checkpoint)
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


def _load(checkpoint: str):
    from .hub import load_pretrained

    return load_pretrained(checkpoint)


def latency(
    model: str,
    blocks: str | None = None,
    image_size: Any = 224,
    batch: Any = 1,
    runs: Any = RUNS.default,
    device: str = "auto",
    dtype: str = "fp32",
    progress: Any = None,
) -> dict:
    """Per-stage latency of a (random-weight) model as the engine's JSON dict; every input bounded first."""
    from .profiling import benchmark

    check_model(model)
    if dtype not in DTYPES:
        raise BoundsError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if device not in device_choices():
        raise BoundsError(f"device must be one of {', '.join(device_choices())}, got {device!r}")
    runs = RUNS.check(runs)
    result = benchmark(
        model,
        blocks=(blocks or "").strip() or None,
        image_size=IMAGE_SIZE.check(image_size),
        batch=BATCH.check(batch),
        runs=runs,
        warmup=2,
        device=device,
        dtype=dtype,
        progress=progress,
    )
    return {**result.to_dict(), "runs": runs}


def compare(
    model: str,
    blocks: str,
    image_size: Any = 224,
    batch: Any = 1,
    runs: Any = 5,
    train: bool = True,
    progress: Any = None,
) -> dict:
    """The lab: the published blocks vs ``blocks`` (params, MACs, per-stage latency, training images/s)."""
    from .compare import compare as run_compare

    check_model(model)
    letters = get_arch(model).validate_blocks((blocks or "").strip() or None)
    result = run_compare(
        model,
        [letters] if letters != get_arch(model).default_blocks else [],
        image_size=IMAGE_SIZE.check(image_size),
        batch=BATCH.check(batch),
        runs=RUNS.check(runs),
        train=bool(train),
        train_batch=TRAIN_BATCH.default,
        progress=progress,
    )
    return result.to_dict()


def _rows(result: Mapping) -> list[Mapping]:
    return [result["baseline"], *result["variants"]]


def _labels(result: Mapping) -> list[str]:
    return [("baseline " if i == 0 else "") + r["blocks"] for i, r in enumerate(_rows(result))]


def compare_figures(result: Mapping, lang: str = "en") -> tuple:
    """Per-stage latency side by side, total time, and training images/s (when measured)."""
    from . import charts

    rows, labels = _rows(result), _labels(result)
    per_stage = charts.compare_figure([{**r, "model": result["model"]} for r in rows], labels, lang)
    totals = charts.totals_figure(labels, [r["total_ms"] for r in rows], "end-to-end latency", "ms")
    train = [r["images_per_s"] for r in rows]
    throughput = charts.totals_figure(labels, train, "training throughput", "images/s") if None not in train else None
    return per_stage, totals, throughput


def compare_table(result: Mapping) -> list[list]:
    """One row per variant: blocks, params, MACs, latency, training images/s, each with its change."""

    def pct(d: Mapping | None) -> str:
        return "" if not d or d.get("pct") is None else f" ({d['pct']:+.0f}%)"

    out = []
    for r in _rows(result):
        d = r.get("delta", {})
        ips = r["images_per_s"]
        out.append(
            [
                r["blocks"],
                f"{r['params'] / 1e6:.2f}M{pct(d.get('params'))}",
                f"{r['macs'] / 1e9:.2f}G{pct(d.get('macs'))}",
                f"{r['total_ms']:.1f} ms{pct(d.get('total_ms'))}",
                "" if ips is None else f"{ips:.1f}{pct(d.get('images_per_s'))}",
                r["note"] or "",
            ]
        )
    return out


COMPARE_HEADERS = ["blocks", "params", "MACs", "latency", "train images/s", "note"]


def throughput_vs_size(
    model: str = "efficientnetv2_b0", sizes: tuple[int, ...] = (128, 160, 192, 224), progress: Any = None
):
    """Training images/s at growing image sizes: progressive learning's argument, measured here.

    A :class:`~effnetv2.profiling.TrainingComparison` whose verdict says whether this machine's noise allows
    the claim "smaller images train faster" to be read from it.
    """
    from .profiling import compare_training

    net = _random_model(model)
    setups = [(model, net, size) for size in sorted(sizes)]
    return compare_training(setups, batch=TRAIN_BATCH.default, progress=progress)


def walkthrough_latency(model: str = "efficientnetv2_b0", image_size: int = 224) -> dict:
    """A quick per-stage measurement for the walkthrough's "depthwise convolutions are slow" argument."""
    return latency(model, None, image_size, 1, 5)


def table3_throughput(image_size: Any = 128, progress: Any = None) -> dict[str, float]:
    """Training images/s of the paper's four EfficientNet-B4 variants on this machine, at ``image_size``.

    Each variant is warmed up first and the steps are interleaved (:func:`~effnetv2.profiling.compare_training`).
    """
    from .profiling import compare_training
    from .walkthrough import PAPER_TABLE3, TABLE3_MODEL

    size = Bound("image size", 64, 380, 128).check(image_size)
    setups = [(v.blocks, _random_model(TABLE3_MODEL, v.blocks), size) for v in PAPER_TABLE3]
    comparison = compare_training(setups, batch=2, rounds=2, progress=progress)
    return {p.label: p.images_per_s for p in comparison.points}


def _random_model(model: str, blocks: str | None = None):
    from .model import create_model

    return create_model(model, blocks=blocks)
