"""Explanations of one prediction: five attribution methods at any stage, their faithfulness, a sanity check, and
the feature maps a stage computes.

Methods (names in :data:`METHODS`, the one home of them):

- ``gradcam``: Grad-CAM (Selvaraju et al., 2017) with captum's ``LayerGradCam``, as :mod:`effnetv2.gradcam`.
- ``gradcam++``: Grad-CAM++ (Chattopadhyay et al., 2018), by hand: captum lacks it.
- ``layercam``: LayerCAM (Jiang et al., 2021), by hand: captum lacks it.
- ``occlusion``: captum's ``Occlusion`` (Zeiler & Fergus, 2014): overlapping square windows replaced by zero,
  the class probability's drop (as in the paper's Fig. 7) spread over each window. Gradient-free.
- ``ig``: captum's ``IntegratedGradients`` (Sundararajan et al., 2017) from a zero baseline, summed over
  channels, positive part.

Every method works on the split network of :mod:`effnetv2.gradcam`: the part up to the chosen stage runs once
without gradients, and the method sees only the rest (the "tail") with the stage's feature map as its input.
``"input"`` is the stage before the stem (the whole network is the tail): occlusion and IG there are the classic
input-level attributions; the CAMs need a feature map and refuse it. A result (:class:`Explanation`) holds the
map and what it explains; drawing it is separate (:func:`draw`), as in pytorch-grad-cam.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam, Occlusion
from PIL import Image, ImageDraw
from torch import nn

from . import bounds
from .devices import memory_guard
from .errors import BoundsError, MethodError, StageError
from .gradcam import _Tail, colorize, overlay, split
from .names import HEAD

METHODS = ("gradcam", "gradcam++", "layercam", "occlusion", "ig")
"""Every method's name, in the order the atlas shows them."""
CAM_METHODS = METHODS[:3]
"""Methods that weigh a stage's feature map: they need one, so they cannot run at the input."""
GRADIENT_METHODS = ("gradcam", "gradcam++", "layercam", "ig")
"""Methods that read the model's gradients (the sanity check's subjects)."""
INPUT = "input"
"""The stage before the stem: the model's input itself."""
OCCLUSION_POSITIONS = 7
"""Occlusion windows per side: 49 windows of about 2/7 of the side, overlapping by half, whatever the stage."""
BATCH = 16
"""Images per forward pass of the perturbation methods and the curves."""
SANITY_PASS = 0.5
"""A map whose rank correlation with its original stays at or above this after full randomization has failed."""
BLUR_SIGMA = 8.0
"""The insertion curve starts from the image blurred this much (pixels), as in Petsiuk et al. (2018)."""


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else :class:`MethodError` with the choices."""
    if method not in METHODS:
        raise MethodError(f"unknown explanation method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def stages_for(model: nn.Module, method: str) -> list[str]:
    """The stages ``method`` can explain on ``model``: every stage and the head, and ``input`` unless a CAM."""
    names = list(model.stage_names)
    return names if check_method(method) in CAM_METHODS else [INPUT, *names]


def default_stage(model: nn.Module, method: str) -> str:
    """The last stage for the CAMs (the deepest map with spatial extent), the input for occlusion and IG."""
    return model.stage_names[-2] if check_method(method) in CAM_METHODS else INPUT


def check_stage(model: nn.Module, method: str, stage: str | None) -> str:
    """``stage`` (default :func:`default_stage`) if ``method`` can explain it, else one line saying which can."""
    if stage is None:
        return default_stage(model, method)
    allowed = stages_for(model, method)
    if stage not in allowed:
        if stage == INPUT:
            raise MethodError(f"{method} needs a feature map, not the input; choose one of {', '.join(allowed)}")
        raise StageError(f"no stage {stage!r} to explain; choose one of {', '.join(allowed)}")
    return stage


def check_class(model: nn.Module, class_index: int | None) -> int | None:
    """``None`` (or -1) for the top-1 class, else an index of the model's classes; a bad one is one line."""
    if class_index is None:
        return None
    top = model.num_classes - 1
    c = bounds.Bound("class", -1, top, -1).check(class_index)
    return None if c < 0 else c


@dataclass(frozen=True)
class Explanation:
    """One method's map of one image for one class at one stage.

    ``map``: (H, W), non-negative, at the model input's size (the crop the model saw); larger = more evidence
    for the class. ``low_res``: the same before upsampling, at the stage's resolution.
    """

    method: str
    stage: str
    class_index: int
    label: str | None
    prob: float
    """The class's softmax probability on the unchanged image."""
    map: np.ndarray
    low_res: np.ndarray
    seconds: float
    """Wall time of this map (not of the shared forward to the stage)."""

    def to_dict(self) -> dict:
        """JSON-friendly summary (no arrays)."""
        return {"method": self.method, "stage": self.stage, "class": self.class_index, "label": self.label,
                "prob": self.prob, "size": list(self.map.shape), "low_res_size": list(self.low_res.shape),
                "seconds": self.seconds}  # fmt: skip


def _split(model: nn.Module, stage: str) -> tuple[list[nn.Module], _Tail]:
    if stage == INPUT:
        return [], _Tail([m for _, m in model.stages()])
    return split(model, stage)


def _grad(tail: nn.Module, feats: torch.Tensor, c: int) -> torch.Tensor:
    """d logit_c / d feats, (1, C, h, w): the tail's input is the stage's map, so no hooks are needed."""
    f = feats.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(tail(f)[0, c], f)
    return g


def gradcam_pp(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ of activations ``a`` and gradients ``g`` (1, C, h, w) -> (1, h, w).

    The closed form of Chattopadhyay et al. (2018, eq. 19) for an exponential of the score, as pytorch-grad-cam
    computes it: alpha = g^2 / (2 g^2 + sum(a) g^3), weights = sum over positions of alpha * relu(g).
    """
    g2, g3 = g.pow(2), g.pow(3)
    denom = 2 * g2 + a.sum((2, 3), keepdim=True) * g3
    alpha = torch.where(g != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(g))
    weights = (alpha * g.clamp(min=0)).sum((2, 3), keepdim=True)
    return (weights * a).sum(1).clamp(min=0)


def layercam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al., 2021): each position's activation weighed by its own positive gradient."""
    return (g.clamp(min=0) * a).sum(1).clamp(min=0)


def occlusion_window(size: int) -> tuple[int, int]:
    """(window, stride) on a side of ``size``: :data:`OCCLUSION_POSITIONS` windows that cover it exactly."""
    n = OCCLUSION_POSITIONS
    stride = max(1, size // (n + 1))
    return max(stride, min(size, size - (n - 1) * stride)), stride


def _attribute(
    method: str, tail: _Tail, feats: torch.Tensor, c: int, ig_steps: int, gradient: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """The raw map (h, w) of ``method`` on the tail's input ``feats`` (1, C, h, w), non-negative. ``gradient``
    gives d logit_c / d feats, computed once per stage for Grad-CAM++ and LayerCAM together."""
    if method == "gradcam":
        return LayerGradCam(tail, tail.features).attribute(feats.clone(), target=c, relu_attributions=True)[0, 0]
    if method in ("gradcam++", "layercam"):
        fn = gradcam_pp if method == "gradcam++" else layercam
        return fn(feats, gradient())[0]
    if method == "occlusion":
        (wh, sh), (ww, sw) = occlusion_window(feats.shape[2]), occlusion_window(feats.shape[3])
        ch = feats.shape[1]
        attr = Occlusion(lambda f: tail(f).float().softmax(1)).attribute(
            feats, sliding_window_shapes=(ch, wh, ww), strides=(ch, sh, sw), baselines=0.0, target=c,
            perturbations_per_eval=BATCH,
        )  # fmt: skip
        return attr[0].mean(0).clamp(min=0)  # every channel of a window has the same value
    attr = IntegratedGradients(tail).attribute(
        feats, baselines=torch.zeros_like(feats), target=c, n_steps=ig_steps, internal_batch_size=ig_steps
    )
    return attr[0].sum(0).clamp(min=0)


def _prepare(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"expected one image of shape (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}")
    param = next(model.parameters())
    return x.to(device=param.device, dtype=param.dtype)


class _Eval:
    """The model in eval mode for a block of work, restored after."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self) -> None:
        self.model.eval()

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


def explain_many(
    model: nn.Module,
    x: torch.Tensor,
    pairs: Iterable[tuple[str, str | None]],
    *,
    class_index: int | None = None,
    labels: Sequence[str] | None = None,
    ig_steps: int = bounds.IG_STEPS.default,
    progress: Callable[[float, str], None] | None = None,
) -> list[Explanation]:
    """One :class:`Explanation` per (method, stage) of one preprocessed image, for one class (default top-1).

    Every pair is checked before any work. Pairs that share a stage share its forward pass.
    """
    x = _prepare(model, x)
    todo = [(check_method(m), check_stage(model, m, s)) for m, s in pairs]
    if not todo:
        raise MethodError(f"no method asked for; choose from {', '.join(METHODS)}")
    chosen = check_class(model, class_index)
    steps = bounds.IG_STEPS.check(ig_steps)
    with _Eval(model), memory_guard(f"explanations at {x.shape[-1]} px on {x.device}"):
        by_stage: dict[str, list[str]] = {}
        for m, s in todo:
            by_stage.setdefault(s, []).append(m)
        done = {}
        top: tuple[int, float] | None = None
        for s, methods in by_stage.items():
            prefix, tail = _split(model, s)
            with torch.no_grad():
                feats = _run(prefix, x)
                if top is None:  # the class from the first stage's split forward: no extra full pass
                    probs = tail(feats.clone()).float().softmax(1)[0]
                    c = int(probs.argmax()) if chosen is None else chosen
                    top = c, float(probs[c])
            c, prob = top
            gradient = functools.cache(functools.partial(_grad, tail, feats, c))
            for m in methods:
                if progress is not None:
                    progress(len(done) / len(todo), f"{m} at {s}")
                start = time.perf_counter()
                low = _attribute(m, tail, feats, c, steps, gradient).detach().float()
                up = F.interpolate(low[None, None], size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
                seconds = time.perf_counter() - start
                label = labels[c] if labels is not None else None
                done[(m, s)] = Explanation(
                    m, s, c, label, prob, up[0, 0].clamp(min=0).cpu().numpy(), low.cpu().numpy(), seconds
                )
    return [done[p] for p in todo]


def explain(
    model: nn.Module,
    x: torch.Tensor,
    method: str = "gradcam",
    stage: str | None = None,
    *,
    class_index: int | None = None,
    labels: Sequence[str] | None = None,
    ig_steps: int = bounds.IG_STEPS.default,
) -> Explanation:
    """``method``'s map of one preprocessed image ``x`` at ``stage`` (default: :func:`default_stage`)."""
    return explain_many(model, x, [(method, stage)], class_index=class_index, labels=labels, ig_steps=ig_steps)[0]


def heat(e: Explanation) -> np.ndarray:
    """The map scaled to [0, 1] by its own maximum (zero stays zero): for drawing only."""
    top = float(e.map.max())
    return e.map / top if top > 0 else np.zeros_like(e.map)


def draw(e: Explanation, crop: Image.Image | None, *, opacity: float = 0.5, colormap: str = "jet") -> Image.Image:
    """The map over the crop the model saw (or alone): drawing is kept apart from computing."""
    return overlay(crop, heat(e), opacity=opacity, colormap=colormap)


# ---------------------------------------------------------------------------------------------------------
# Faithfulness: deletion and insertion (Petsiuk et al., 2018, "RISE") over cells of the input


@dataclass(frozen=True)
class Curves:
    """Deletion and insertion curves: the class probability after changing ``fractions`` of the cells."""

    fractions: tuple[float, ...]
    deletion: tuple[float, ...]
    insertion: tuple[float, ...]

    @property
    def deletion_auc(self) -> float:
        """Area under the deletion curve, 0-1: low = the map's top cells are what the class needs."""
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        """Area under the insertion curve, 0-1: high = the map's top cells alone bring the class back."""
        return float(np.trapezoid(self.insertion, self.fractions))


@dataclass(frozen=True)
class Scores:
    """A map's curves against the mean of random cell orders: the map is faithful by the gap between them."""

    method: str
    stage: str
    class_index: int
    label: str | None
    curves: Curves
    random: Curves
    seconds: float
    """The map's and its curves' time (the random baseline is shared and not counted)."""

    def to_dict(self) -> dict:
        """The CLI's ``--metrics --json`` object."""
        return {"method": self.method, "stage": self.stage, "class": self.class_index, "label": self.label,
                "deletion_auc": self.curves.deletion_auc, "insertion_auc": self.curves.insertion_auc,
                "random_deletion_auc": self.random.deletion_auc, "random_insertion_auc": self.random.insertion_auc,
                "seconds": self.seconds}  # fmt: skip


class Perturber:
    """Deletes or inserts cells of one image in any order, in batched forward passes.

    Deletion replaces cells with ``fill`` (in the model's input space: 0 is the normalization mean, a gray);
    insertion reveals them on a blurred copy. Whole cells, not single pixels: scattered pixels wreck any image
    whatever the order, and a random order then looks as harmful as the map's.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, class_index: int, *, cell: int = bounds.CELL.default,
                 steps: int = bounds.CURVE_STEPS.default, fill: float = 0.0):  # fmt: skip
        from torchvision.transforms.functional import gaussian_blur

        self.model, self.x, self.c = model, _prepare(model, x)[0], class_index
        self.cell, self.steps = bounds.CELL.check(cell), bounds.CURVE_STEPS.check(steps)
        h, w = self.x.shape[-2:]
        if self.cell > min(h, w):
            raise BoundsError(f"cell must be at most the image side ({min(h, w)} px), got {self.cell}")
        self.grid = (-(-h // self.cell), -(-w // self.cell))
        self.fill = torch.full_like(self.x, fill)
        k = int(4 * BLUR_SIGMA) | 1
        self.blurred = gaussian_blur(self.x[None], [k, k], [BLUR_SIGMA, BLUR_SIGMA])[0]
        n = self.grid[0] * self.grid[1]
        self.counts = [round(t * n / self.steps) for t in range(self.steps + 1)]
        # the ends are the same for every order: the image, the filled image, the blurred image
        p_x, p_fill, p_blur = self._probs(torch.stack([self.x, self.fill, self.blurred]))
        self.ends = (p_x, p_fill, p_blur)

    @property
    def fractions(self) -> tuple[float, ...]:
        n = self.grid[0] * self.grid[1]
        return tuple(k / n for k in self.counts)

    def cell_scores(self, saliency: np.ndarray) -> np.ndarray:
        """Each cell's mean of ``saliency`` (H, W), flattened row by row."""
        m = torch.as_tensor(np.asarray(saliency, np.float32))[None, None]
        return F.avg_pool2d(m, self.cell, ceil_mode=True)[0, 0].flatten().numpy()

    def _masks(self, order: np.ndarray) -> torch.Tensor:
        """(steps - 1, 1, H, W): 1 where the first counts[t] cells of ``order`` are, for t = 1 .. steps - 1."""
        gh, gw = self.grid
        rank = np.empty(gh * gw, np.int64)
        rank[order] = np.arange(gh * gw)
        counts = torch.tensor(self.counts[1:-1])[:, None]
        cells = (torch.as_tensor(rank)[None] < counts).float().reshape(-1, 1, gh, gw)
        full = cells.repeat_interleave(self.cell, 2).repeat_interleave(self.cell, 3)
        return full[..., : self.x.shape[-2], : self.x.shape[-1]].to(self.x.device, self.x.dtype)

    def _probs(self, batch: torch.Tensor) -> list[float]:
        out: list[float] = []
        with _Eval(self.model), torch.inference_mode():
            for i in range(0, len(batch), BATCH):
                out += self.model(batch[i : i + BATCH]).float().softmax(1)[:, self.c].cpu().tolist()
        return out

    def curves(self, order: np.ndarray) -> Curves:
        """Deletion and insertion curves with the cells changed in ``order`` (cell indices, first first)."""
        mask = self._masks(order)
        deleted = self.x * (1 - mask) + self.fill * mask
        inserted = self.blurred * (1 - mask) + self.x * mask
        probs = self._probs(torch.cat([deleted, inserted]))
        k = len(mask)
        p_x, p_fill, p_blur = self.ends
        return Curves(self.fractions, (p_x, *probs[:k], p_fill), (p_blur, *probs[k:], p_x))

    def ranked(self, saliency: np.ndarray) -> Curves:
        """Curves in the order ``saliency`` ranks the cells, highest first (ties: row by row)."""
        return self.curves(np.argsort(-self.cell_scores(saliency), kind="stable"))

    def random(self, orders: int = bounds.RANDOM_ORDERS.default, seed: int = 0) -> Curves:
        """The mean curves of ``orders`` random cell orders: the chance baseline."""
        rng = np.random.default_rng(seed)
        n = self.grid[0] * self.grid[1]
        runs = [self.curves(rng.permutation(n)) for _ in range(bounds.RANDOM_ORDERS.check(orders))]
        mean = [tuple(np.mean([getattr(r, k) for r in runs], axis=0).tolist()) for k in ("deletion", "insertion")]
        return Curves(self.fractions, mean[0], mean[1])


def score(e: Explanation, perturber: Perturber, baseline: Curves) -> Scores:
    """``e``'s deletion and insertion curves beside ``baseline`` (:meth:`Perturber.random`)."""
    if perturber.c != e.class_index:
        raise ValueError(f"the curves are for class {perturber.c}, the map for class {e.class_index}")
    start = time.perf_counter()
    curves = perturber.ranked(e.map)
    seconds = e.seconds + time.perf_counter() - start
    return Scores(e.method, e.stage, e.class_index, e.label, curves, baseline, seconds)


# ---------------------------------------------------------------------------------------------------------
# Sanity check: cascading randomization (Adebayo et al., 2018)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally shaped arrays (ties share their mean rank). A constant array
    has no order to share: 0."""

    def ranks(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64).ravel()
        r = np.empty(v.size)
        r[np.argsort(v, kind="stable")] = np.arange(v.size)
        _, inv = np.unique(v, return_inverse=True)
        return (np.bincount(inv, r) / np.bincount(inv))[inv]

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def randomize_(module: nn.Module, generator: torch.Generator) -> None:
    """Replace every parameter of ``module`` with normal noise of the parameter's own mean and spread, so that
    activations keep their scale while the learned weights are gone."""
    with torch.no_grad():
        for p in module.parameters():
            std = float(p.std()) if p.numel() > 1 else 0.0
            noise = torch.randn(p.shape, generator=generator).to(p.device, p.dtype)
            p.copy_(noise * std + p.mean())


@dataclass(frozen=True)
class SanityResult:
    """Each method's rank correlation with its original map after randomizing the parts in ``steps`` (head
    first, cumulatively); a method whose last correlation is at or above :data:`SANITY_PASS` failed."""

    stage: dict[str, str]
    class_index: int
    steps: tuple[str, ...]
    correlations: dict[str, tuple[float, ...]]

    @property
    def failed(self) -> list[str]:
        return [m for m, c in self.correlations.items() if c[-1] >= SANITY_PASS]

    def to_dict(self) -> dict:
        return {"stage": self.stage, "class": self.class_index, "steps": list(self.steps),
                "correlations": {m: list(c) for m, c in self.correlations.items()}, "failed": self.failed,
                "threshold": SANITY_PASS}  # fmt: skip


def _stage_for(model: nn.Module, method: str, stage: str | None) -> str:
    """``stage`` for ``method``, or its default where none is given or a CAM is asked for at the input."""
    if stage is None or (stage == INPUT and method in CAM_METHODS):
        return default_stage(model, method)
    return check_stage(model, method, stage)


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    methods: Sequence[str] = GRADIENT_METHODS,
    stage: str | None = None,
    *,
    class_index: int | None = None,
    cell: int = bounds.CELL.default,
    ig_steps: int = bounds.IG_STEPS.default,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> SanityResult:
    """Cascading randomization: a copy of ``model`` has its head, then its last stage, ... then its stem replaced
    by noise (:func:`randomize_`); after each step every method's map (for the original class, at ``stage`` or
    its default) is compared with the original by Spearman correlation over ``cell`` px cells.

    A map that explains the model must change when the model does; one that does not is an edge detector.
    """
    pairs = [(m, _stage_for(model, check_method(m), stage)) for m in methods]
    cell = bounds.CELL.check(cell)
    originals = explain_many(model, x, pairs, class_index=class_index, ig_steps=ig_steps)
    c = originals[0].class_index

    def pooled(e: Explanation) -> np.ndarray:
        return F.avg_pool2d(torch.as_tensor(e.map)[None, None], cell, ceil_mode=True).numpy()

    base = [pooled(e) for e in originals]
    shuffled = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    order = [n for n, _ in reversed(shuffled.stages())]
    corr: dict[str, list[float]] = {m: [] for m in methods}
    for i, (name, module) in enumerate(reversed(shuffled.stages())):
        if progress is not None:
            progress(i / len(order), f"randomized down to {name}")
        randomize_(module, generator)
        for m, b, e in zip(methods, base, explain_many(shuffled, x, pairs, class_index=c, ig_steps=ig_steps),
                           strict=True):  # fmt: skip
            corr[m].append(spearman(b, pooled(e)))
    return SanityResult(dict(pairs), c, tuple(order), {m: tuple(v) for m, v in corr.items()})


# ---------------------------------------------------------------------------------------------------------
# Feature maps


@dataclass(frozen=True)
class FeatureMaps:
    """A stage's most active channels (by mean activation over the crop), strongest first."""

    stage: str
    resolution: tuple[int, int]
    channel_count: int
    channels: tuple[int, ...]
    means: tuple[float, ...]
    maps: np.ndarray
    """(k, h, w): the chosen channels' activations at the stage's resolution."""

    def to_dict(self) -> dict:
        return {"stage": self.stage, "resolution": list(self.resolution), "channel_count": self.channel_count,
                "channels": list(self.channels), "means": list(self.means)}  # fmt: skip


def feature_maps(model: nn.Module, x: torch.Tensor, stage: str, k: int = bounds.TOP_CHANNELS.default) -> FeatureMaps:
    """The ``k`` most active channels of ``stage``'s output (the head: its conv's) for one preprocessed image."""
    stages = list(model.stage_names)
    if stage not in stages:
        raise StageError(f"no stage {stage!r}; choose one of {', '.join(stages)}")
    x = _prepare(model, x)
    prefix, _ = split(model, stage)
    with _Eval(model), torch.inference_mode():
        a = _run(prefix, x)[0].float().cpu()
    k = min(bounds.TOP_CHANNELS.check(k), a.shape[0])
    means = a.mean((1, 2))
    top = means.topk(k).indices
    return FeatureMaps(stage, (a.shape[1], a.shape[2]), a.shape[0], tuple(top.tolist()),
                       tuple(means[top].tolist()), a[top].numpy())  # fmt: skip


def feature_grid(fm: FeatureMaps, crop: Image.Image, *, tile: int = 112, columns: int = 4) -> Image.Image:
    """The maps as a grid of tiles over the crop (each scaled to its own range, viridis), each with its channel."""
    rows = -(-len(fm.channels) // columns)
    grid = Image.new("RGB", (columns * tile, rows * tile), (255, 255, 255))
    base = crop.convert("RGB").resize((tile, tile), Image.BILINEAR)
    pen = ImageDraw.Draw(grid)
    for i, (ch, m) in enumerate(zip(fm.channels, fm.maps, strict=True)):
        up = F.interpolate(torch.as_tensor(m)[None, None], size=(tile, tile), mode="bilinear", align_corners=False)
        v = up[0, 0].numpy()
        span = float(v.max() - v.min())
        h = (v - v.min()) / span if span > 0 else np.zeros_like(v)
        cell = Image.blend(base, Image.fromarray(colorize(h, "viridis", signed=False), "RGB"), 0.6)
        r, col = divmod(i, columns)
        grid.paste(cell, (col * tile, r * tile))
        pen.rectangle((col * tile, r * tile, col * tile + 44, r * tile + 12), fill=(0, 0, 0))
        pen.text((col * tile + 2, r * tile), f"ch {ch}", fill=(255, 255, 255))
    return grid


# ---------------------------------------------------------------------------------------------------------
# The atlas: methods x stages, each map with its scores


def resolutions(model: nn.Module, size: int = 64) -> dict[str, tuple[int, int]]:
    """Each stage's output size (the head's: its conv's) for a ``size`` px input: one cheap forward."""
    param = next(model.parameters())
    x = torch.zeros(1, 3, size, size, device=param.device, dtype=param.dtype)
    out: dict[str, tuple[int, int]] = {}
    with _Eval(model), torch.inference_mode():
        for name in model.stage_names:
            prefix, _ = split(model, name)
            out[name] = tuple(_run(prefix, x).shape[-2:])
    return out


def _run(modules: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for m in modules:
        x = m(x)
    return x


def atlas_stages(model: nn.Module, count: int = 3) -> list[str]:
    """The last stage of each of the ``count`` coarsest resolutions (e.g. Lite0: stage3, stage5, stage7): where a
    map changes from parts to objects."""
    return coarsest_stages(resolutions(model), count)


def coarsest_stages(sizes: dict[str, object], count: int = 3) -> list[str]:
    """The last stage of each of the ``count`` last resolutions in ``sizes`` (stage -> size or stride, in forward
    order; the head is left out: its map is the last stage's)."""
    last: dict[object, str] = {}
    for name, size in sizes.items():
        if name != HEAD:
            last[size] = name  # later stages at the same resolution replace earlier ones
    return list(last.values())[-count:]


@dataclass(frozen=True)
class Atlas:
    """Every (method, stage) map of one image and class, each with its curves, beside one random baseline."""

    explanations: list[Explanation]
    scores: list[Scores]
    random: Curves
    cell: int
    seconds: float
    """Wall time of the whole atlas: every map, every curve and the baseline."""

    def to_dict(self) -> dict:
        """``scores.json`` of ``python -m effnetv2 explain``."""
        first = self.explanations[0]
        return {"class": first.class_index, "label": first.label, "prob": first.prob, "cell": self.cell,
                "fractions": list(self.random.fractions), "random_deletion": list(self.random.deletion),
                "random_insertion": list(self.random.insertion),
                "random_deletion_auc": self.random.deletion_auc, "random_insertion_auc": self.random.insertion_auc,
                "cells": [{**s.to_dict(), "deletion": list(s.curves.deletion), "insertion": list(s.curves.insertion)}
                          for s in self.scores],
                "seconds": self.seconds}  # fmt: skip


def atlas_pairs(model: nn.Module, methods: Sequence[str], stages: Sequence[str]) -> list[tuple[str, str]]:
    """Every (method, stage) of the grid that the method can explain (no CAM at the input), checked."""
    pairs = [(check_method(m), s) for m in methods for s in stages if not (m in CAM_METHODS and s == INPUT)]
    for m, s in pairs:
        check_stage(model, m, s)
    if not pairs:
        raise MethodError("no method can explain the chosen stages; add a stage other than the input")
    return pairs


def atlas(
    model: nn.Module,
    x: torch.Tensor,
    methods: Sequence[str] | None = METHODS,
    stages: Sequence[str] | None = None,
    *,
    class_index: int | None = None,
    labels: Sequence[str] | None = None,
    cell: int = bounds.CELL.default,
    steps: int = bounds.CURVE_STEPS.default,
    random_orders: int = bounds.RANDOM_ORDERS.default,
    ig_steps: int = bounds.IG_STEPS.default,
    progress: Callable[[float, str], None] | None = None,
) -> Atlas:
    """``methods`` (default all) x ``stages`` (default :func:`atlas_stages`) of one preprocessed image, scored.

    Everything is checked before any work; the random baseline is computed once and shared by every cell.
    """
    start = time.perf_counter()
    pairs = atlas_pairs(model, methods or METHODS, stages or atlas_stages(model))
    bounds.CELL.check(cell), bounds.CURVE_STEPS.check(steps), bounds.RANDOM_ORDERS.check(random_orders)
    n = len(pairs)

    def report(share: float, text: str) -> None:
        if progress is not None:
            progress(share, text)

    def maps_progress(f: float, text: str) -> None:
        report(0.5 * f, text)

    found = explain_many(model, x, pairs, class_index=class_index, labels=labels, ig_steps=ig_steps,
                         progress=maps_progress)  # fmt: skip
    report(0.5, "random baseline")
    perturber = Perturber(model, x, found[0].class_index, cell=cell, steps=steps)
    baseline = perturber.random(random_orders)
    scores = []
    for i, e in enumerate(found):
        report(0.55 + 0.45 * i / n, f"curves of {e.method} at {e.stage}")
        scores.append(score(e, perturber, baseline))
    report(1.0, "done")
    return Atlas(found, scores, baseline, cell, time.perf_counter() - start)
