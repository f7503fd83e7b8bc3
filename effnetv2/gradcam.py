"""Grad-CAM (Selvaraju et al. 2017) on any stage's output or the head's feature map, with captum.

The network is split at the target: the part before it runs once without gradients, and captum's
``LayerGradCam`` differentiates only the rest (the "tail") with respect to the target's output. For the last
stage the tail is just the head, so a map costs about one forward pass, and several classes (e.g. the top-3)
are one batched tail pass rather than one full pass each. captum clones the layer output it differentiates,
and the package's model has no in-place activations, so nothing overwrites the feature map.

The map belongs to the model's input: overlay it on the exact crop the model saw (``EvalTransform.crop``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image
from torch import nn

from .config import Arch, get_arch
from .devices import memory_guard
from .errors import StageError
from .names import part_names

SCALES = ("per-map", "shared")
DEFAULT_COLORMAP = {True: "jet", False: "RdBu_r"}
"""Positive maps: a sequential colormap; signed maps: a diverging one, white at zero."""


class _Features(nn.Identity):
    """The tail's input, where captum hooks: the target stage's (or the head conv's) output."""


class _Tail(nn.Module):
    """Everything after the target, from its feature map to the logits."""

    def __init__(self, modules: Sequence[nn.Module]):
        super().__init__()
        self.features = _Features()
        self.rest = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        for m in self.rest:
            x = m(x)
        return x


class _HeadClassifier(nn.Module):
    """The head after its conv (pool -> dropout -> FC), so that ``head`` can be a Grad-CAM target."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head
        return h.classifier(h.dropout(h.pool(x).flatten(1)))


def cam_targets(model: nn.Module | Arch | str) -> list[str]:
    """Valid targets of a model, an architecture or a model name: every stage's output (``stem`` ...
    ``stageN``) and ``head`` (its conv's feature map)."""
    if isinstance(model, nn.Module):
        return list(model.stage_names)
    arch = model if isinstance(model, Arch) else get_arch(model)
    return part_names(len(arch.stages))


def split(model: nn.Module, target: str) -> tuple[list[nn.Module], _Tail]:
    """(modules before and including the target, the tail from the target's output to the logits)."""
    stages = model.stages()
    names = [n for n, _ in stages]
    if target not in names:
        raise StageError(f"no Grad-CAM target {target!r}; choose one of {', '.join(names)}")
    if target == "head":
        head = stages[-1][1]
        return [m for _, m in stages[:-1]] + [head.conv], _Tail([_HeadClassifier(head)])
    i = names.index(target)
    return [m for _, m in stages[: i + 1]], _Tail([m for _, m in stages[i + 1 :]])


@dataclass
class CamResult:
    """Grad-CAM maps for one image and one or more classes (row k of each array belongs to ``classes[k]``).

    ``maps``: upsampled raw maps (K, H, W) at the model input size; ``low_res``: the raw maps at the target's
    resolution (K, h, w); ``heat``: ``maps`` scaled to [0, 1] (positive) or [-1, 1] (signed, zero kept at
    zero) by ``scale_max`` per map or shared; ``overlays``: one RGB image per class.
    """

    target: str
    classes: list[int]
    scores: list[float]
    labels: list[str] | None
    relu: bool
    scale: str
    maps: np.ndarray
    low_res: np.ndarray
    heat: np.ndarray
    scale_max: list[float]
    overlays: list[Image.Image]

    def to_dict(self) -> dict:
        """JSON-friendly summary (no arrays or images)."""
        return {
            "target": self.target,
            "classes": self.classes,
            "scores": self.scores,
            "labels": self.labels,
            "relu": self.relu,
            "scale": self.scale,
            "scale_max": self.scale_max,
            "size": list(self.maps.shape[1:]),
            "low_res_size": list(self.low_res.shape[1:]),
        }


def normalize(maps: np.ndarray, *, relu: bool, scale: str = "per-map", scale_max: float | None = None):
    """(heat, divisors): positive maps min-max to [0, 1]; signed maps divided by max |v| into [-1, 1].

    ``"shared"`` divides every map by the largest value among them (positive maps keep 0 as their floor),
    so two maps' strengths compare honestly; ``scale_max`` fixes that divisor, e.g. across calls.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale_max is not None and not (np.isfinite(scale_max) and scale_max > 0):
        raise ValueError(f"scale_max must be a positive number, got {scale_max!r}")
    maps = np.asarray(maps, dtype=np.float32)
    eps = np.float32(1e-12)
    if scale == "per-map" and scale_max is None:
        if relu:
            low = maps.min(axis=(1, 2), keepdims=True)
            span = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, eps)
            return (maps - low) / span, [float(s) for s in span.ravel()]
        span = np.maximum(np.abs(maps).max(axis=(1, 2), keepdims=True), eps)
        return maps / span, [float(s) for s in span.ravel()]
    top = scale_max if scale_max is not None else float(max(np.abs(maps).max(), eps))
    heat = maps / np.float32(top)
    heat = np.clip(heat, 0.0 if relu else -1.0, 1.0)
    return heat, [float(top)] * len(maps)


@functools.cache
def _lut(colormap: str) -> np.ndarray:
    """The colormap's (N, 3) uint8 table: indexing it is what matplotlib does, without its per-call overhead."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ValueError(f"unknown colormap {colormap!r} (matplotlib names, e.g. jet, viridis, inferno)") from None
    return (cmap(np.arange(cmap.N))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def colorize(heat: np.ndarray, colormap: str, *, signed: bool) -> np.ndarray:
    """An (H, W, 3) uint8 image of ``heat`` (in [0, 1], or [-1, 1] when ``signed``) through a matplotlib map."""
    lut = _lut(colormap)
    values = (heat + 1.0) / 2.0 if signed else heat
    n = len(lut)
    return lut[np.clip((values * n).astype(np.int64), 0, n - 1)]  # matplotlib's own binning of [0, 1]


def overlay(
    image: Image.Image | None, heat: np.ndarray, *, opacity: float = 0.5, colormap: str = "jet", signed: bool = False
) -> Image.Image:
    """The colored map blended over ``image`` (the crop the model saw) at ``opacity``; alone without an image."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be from 0 to 1, got {opacity!r}")
    colored = colorize(heat, colormap, signed=signed)
    if image is None:
        return Image.fromarray(colored, "RGB")
    h, w = heat.shape
    if image.size != (w, h):
        raise ValueError(
            f"the overlay image is {image.size[0]}x{image.size[1]} but the map is {w}x{h}: pass the crop the model "
            "saw (EvalTransform.crop)"
        )
    return Image.blend(image.convert("RGB"), Image.fromarray(colored, "RGB"), opacity)


def _check_classes(classes: int | Sequence[int] | None, topk: int, num_classes: int) -> list[int] | None:
    if classes is None:
        if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= num_classes:
            raise ValueError(f"topk must be a whole number from 1 to {num_classes}, got {topk!r}")
        return None
    chosen = [classes] if isinstance(classes, (int, np.integer)) else list(classes)
    if not chosen:
        raise ValueError("no classes given")
    for c in chosen:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < num_classes:
            raise ValueError(f"class index must be a whole number from 0 to {num_classes - 1}, got {c!r}")
    return [int(c) for c in chosen]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    *,
    target: str | None = None,
    classes: int | Sequence[int] | None = None,
    topk: int = 1,
    relu: bool = True,
    scale: str = "per-map",
    scale_max: float | None = None,
    image: Image.Image | None = None,
    opacity: float = 0.5,
    colormap: str | None = None,
    labels: Sequence[str] | None = None,
) -> CamResult:
    """Grad-CAM of one preprocessed image ``x`` ((3, H, W) or (1, 3, H, W)) at ``target``.

    ``target``: a stage name or ``"head"`` (default: the last stage, the deepest map with spatial extent).
    ``classes``: one index or several; default the ``topk`` most probable classes. ``relu``: positive maps
    (Grad-CAM as published) or signed ones (evidence against shows too). Scores are softmax probabilities.
    """
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected one image of shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    target = target or model.stage_names[-2]
    prefix, tail = split(model, target)
    num_classes = model.num_classes
    chosen = _check_classes(classes, topk, num_classes)
    colormap = colormap or DEFAULT_COLORMAP[relu]
    # Display options are checked before any work, so a typo costs nothing.
    overlay(None, np.zeros((1, 1), np.float32), opacity=opacity, colormap=colormap)
    normalize(np.zeros((1, 1, 1), np.float32), relu=relu, scale=scale, scale_max=scale_max)
    param = next(model.parameters())
    x = x.to(device=param.device, dtype=param.dtype)

    was_training = model.training
    model.eval()
    try:
        with memory_guard(f"Grad-CAM at {x.shape[-1]} px on {param.device}"):
            with torch.no_grad():
                feats = x
                for m in prefix:
                    feats = m(feats)
                # clone: an in-place op in the tail must not reach feats
                probs = tail(feats.clone()).float().softmax(1)[0]
            if chosen is None:
                chosen = probs.topk(topk).indices.tolist()
            k = len(chosen)
            cam = LayerGradCam(tail, tail.features)
            low = cam.attribute(feats.expand(k, *feats.shape[1:]).clone(), target=chosen, relu_attributions=relu)
            up = LayerAttribution.interpolate(low, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    finally:
        model.train(was_training)

    low_np = low.detach().float()[:, 0].cpu().numpy()
    maps = up.detach().float()[:, 0].cpu().numpy()
    if relu:
        maps = np.maximum(maps, 0.0)  # bilinear interpolation of non-negative values stays non-negative; exact 0
    heat, divisors = normalize(maps, relu=relu, scale=scale, scale_max=scale_max)
    overlays = [overlay(image, h, opacity=opacity, colormap=colormap, signed=not relu) for h in heat]
    return CamResult(
        target=target,
        classes=list(chosen),
        scores=[float(probs[c]) for c in chosen],
        labels=[labels[c] for c in chosen] if labels is not None else None,
        relu=relu,
        scale=scale,
        maps=maps,
        low_res=low_np,
        heat=heat,
        scale_max=divisors,
        overlays=overlays,
    )


# ---------------------------------------------------------------------------------------------------------
# Is the map faithful? A deletion check


@dataclass(frozen=True)
class DeletionScore:
    """The class probability with the map's top cells covered vs as many random cells covered.

    A faithful map points at what the model uses, so covering its top cells costs far more probability than
    covering random ones (the deletion measure of Petsiuk et al. 2018, RISE, at one fraction, on cells: single
    scattered pixels wreck any image, whatever the order).
    """

    target: str
    class_index: int
    cell: int
    grid: tuple[int, int]
    """Cells per column and per row: cell ``i`` is at row ``i // grid[1]``, column ``i % grid[1]``."""
    top_cells: tuple[int, ...]
    """The cells covered in the map's order, highest first (as many as are covered in each random order)."""
    prob: float
    """The class probability of the uncovered image."""
    prob_top: float
    prob_random: tuple[float, ...]
    """One per random order."""

    @property
    def drop_top(self) -> float:
        return self.prob - self.prob_top

    @property
    def drop_random(self) -> float:
        """The mean drop over the random orders."""
        return self.prob - float(np.mean(self.prob_random))


def deletion_score(
    model: nn.Module,
    x: torch.Tensor,
    cam: CamResult,
    *,
    cell: int = 16,
    fraction: float = 0.1,
    random_orders: int = 16,
    fill: float = 0.0,
    seed: int = 0,
) -> DeletionScore:
    """Cover ``fraction`` of the ``cell`` x ``cell`` px cells of ``x`` (one preprocessed image) in the order
    ``cam`` (its first class's map, from ``grad_cam`` on ``x``) ranks them, and in ``random_orders`` random
    orders, with ``fill`` (in the model's input space: 0 is the normalization mean, mid-gray for mean 0.5).
    """
    if x.ndim == 4:
        x = x[0]
    h, w = x.shape[-2] // cell, x.shape[-1] // cell
    if h == 0 or w == 0 or cam.maps.shape[1:] != tuple(x.shape[-2:]):
        raise ValueError(f"need a map of the image's size and cells smaller than it, got cell {cell} px")
    ranks = cam.maps[0][: h * cell, : w * cell].reshape(h, cell, w, cell).mean((1, 3)).ravel()
    k = max(1, round(fraction * ranks.size))
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-ranks, kind="stable")] + [rng.permutation(ranks.size) for _ in range(random_orders)]

    def covered(order: np.ndarray) -> torch.Tensor:
        y = x.clone()
        for i in order[:k]:
            r, c = divmod(int(i), w)
            y[:, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] = fill
        return y

    param = next(model.parameters())
    batch = torch.stack([x] + [covered(o) for o in orders]).to(device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            probs = model(batch).float().softmax(1)[:, cam.classes[0]].cpu().tolist()
    finally:
        model.train(was_training)
    top = tuple(int(i) for i in orders[0][:k])
    return DeletionScore(cam.target, cam.classes[0], cell, (h, w), top, probs[0], probs[1], tuple(probs[2:]))
