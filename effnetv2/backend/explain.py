"""The Explain tab: the atlas (methods x stages, each overlay with its faithfulness scores and curves), the
sanity check (cascading randomization) and a stage's most active feature maps.

Every input is parsed here into typed, bounded values (``limits``) before any model runs, numbers strictly (JSON
numbers only: ``"5"`` or ``" 1e1 "`` is a mistake to point out, as on every other endpoint); the work is
:mod:`effnetv2.explain` on the plain fp32 model (gradients need it), on the crop the model saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .. import explain as engine
from ..checkpoints import DEFAULT_CHECKPOINT, resolve_checkpoint
from ..config import get_arch
from ..errors import BoundsError
from ..hub import Pretrained, load_pretrained
from ..images import open_image
from ..names import STEM, part_names
from . import limits
from .alt_text import map_where
from .charts import go
from .classify import _given
from .strings import DEFAULT_LANGUAGE, ui_text

Progress = Callable[[float, str], None] | None


def stage_choices(checkpoint: str = DEFAULT_CHECKPOINT) -> list[str]:
    """``input`` and every stage of the checkpoint's architecture with the head (the stem too: edges)."""
    return [engine.INPUT, *part_names(len(get_arch(resolve_checkpoint(checkpoint).arch).stages))]


def default_stages(checkpoint: str = DEFAULT_CHECKPOINT) -> list[str]:
    """The atlas's stages: the last of each of the three coarsest resolutions, from the table's strides (no model
    is loaded)."""
    arch = get_arch(resolve_checkpoint(checkpoint).arch)
    names = part_names(len(arch.stages))
    strides, total = {STEM: 2}, 2
    for name, stage in zip(names[1:-1], arch.stages, strict=True):
        total *= stage.stride
        strides[name] = total
    return engine.coarsest_stages(strides)


def default_stage(checkpoint: str = DEFAULT_CHECKPOINT) -> str:
    """The last stage: the deepest map with spatial extent."""
    return stage_choices(checkpoint)[-2]


def _choices(values: Any, allowed: Sequence[str], what: str, most: int) -> list[str]:
    chosen = [values] if isinstance(values, str) else list(values or [])
    if not chosen:
        raise BoundsError(f"choose at least one {what}")
    if len(chosen) > most:
        raise BoundsError(f"choose at most {most} {what}s, got {len(chosen)}")
    for v in chosen:
        if v not in allowed:
            raise BoundsError(f"{what} must be one of {', '.join(allowed)}, got {v!r}")
    return chosen


def _stage(stage: Any, checkpoint: str) -> str:
    return _choices(stage, stage_choices(checkpoint), "stage", 1)[0]


@dataclass
class Prepared:
    """The loaded checkpoint, the crop the model saw and its tensor."""

    pre: Pretrained
    crop: Image.Image
    x: Any


def _prepare(image: Any, checkpoint: str) -> Prepared:
    img = open_image(_given(image))
    pre = load_pretrained(checkpoint)
    crop = pre.transform.crop(img)
    return Prepared(pre, crop, pre.transform.to_tensor(crop))


@dataclass
class AtlasView:
    gallery: list[tuple[Image.Image, str]]
    """One overlay per (method, stage), captioned with its areas."""
    rows: list[list[Any]]
    """method, stage, deletion area, insertion area, random deletion, random insertion, seconds."""
    figure: Any
    summary: str
    atlas: engine.Atlas


def score_headers(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """The scores table's headers: method, stage, deletion, insertion, random deletion and insertion, seconds."""
    keys = ("method", "stage", "deletion_area", "insertion_area", "random_deletion", "random_insertion", "seconds")
    return [ui_text(f"x_{k}", lang) for k in keys]


SCORE_HEADERS = score_headers()


def atlas(
    image: Any,
    checkpoint: str = DEFAULT_CHECKPOINT,
    methods: Any = engine.METHODS,
    stages: Any = None,
    target: Any = -1,
    cell: Any = limits.CELL.default,
    steps: Any = limits.CURVE_STEPS.default,
    ig_steps: Any = limits.IG_STEPS.default,
    progress: Progress = None,
    lang: str = DEFAULT_LANGUAGE,
) -> AtlasView:
    """The atlas of one image: every chosen method at every chosen stage, scored against random cell orders."""
    chosen_methods = _choices(methods, engine.METHODS, "method", len(engine.METHODS))
    chosen_stages = _choices(stages or default_stages(checkpoint), stage_choices(checkpoint), "stage",
                             limits.ATLAS_STAGES)  # fmt: skip
    cls, cell_px = limits.CLASS_INDEX.check(target, strict=True), limits.CELL.check(cell, strict=True)
    n_steps, n_ig = limits.CURVE_STEPS.check(steps, strict=True), limits.IG_STEPS.check(ig_steps, strict=True)
    p = _prepare(image, checkpoint)
    engine.atlas_pairs(p.pre.model, chosen_methods, chosen_stages)  # a bad pair costs nothing
    result = engine.atlas(
        p.pre.model, p.x, chosen_methods, chosen_stages, class_index=cls, labels=p.pre.labels, cell=cell_px,
        steps=n_steps, random_orders=limits.RANDOM_ORDERS.default, ig_steps=n_ig, progress=progress,
    )  # fmt: skip
    gallery, rows = [], []
    for e, s in zip(result.explanations, result.scores, strict=True):
        c = s.curves
        caption = ui_text("x_map_caption", lang).format(
            method=e.method, stage=e.stage, deletion=c.deletion_auc, insertion=c.insertion_auc
        )
        caption += "; " + map_where(e.map, lang)  # the gallery's alt text too
        gallery.append((engine.draw(e, p.crop), caption))
        rows.append([e.method, e.stage, round(c.deletion_auc, 3), round(c.insertion_auc, 3),
                     round(result.random.deletion_auc, 3), round(result.random.insertion_auc, 3),
                     round(s.seconds, 2)])  # fmt: skip
    first = result.explanations[0]
    summary = ui_text("x_summary", lang).format(
        index=first.class_index, label=first.label, p=first.prob, cell=cell_px, orders=limits.RANDOM_ORDERS.default,
        deletion=result.random.deletion_auc, insertion=result.random.insertion_auc, maps=len(rows),
        seconds=result.seconds,
    )  # fmt: skip
    return AtlasView(gallery, rows, curves_figure(result, lang), summary, result)


def curves_figure(result: engine.Atlas, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Deletion (left) and insertion (right) curves of every cell, with the random baseline dashed."""
    from plotly.subplots import make_subplots

    titles = (ui_text("x_deletion_title", lang), ui_text("x_insertion_title", lang))
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    x = list(result.random.fractions)
    for col, kind in ((1, "deletion"), (2, "insertion")):
        dashed = {"dash": "dash", "color": "black"}
        fig.add_trace(go.Scatter(x=x, y=list(getattr(result.random, kind)), name=ui_text("x_random", lang),
                                 legendgroup="random",
                                 showlegend=col == 1, line=dashed), row=1, col=col)  # fmt: skip
        for s in result.scores:
            name = f"{s.method} @ {s.stage}"
            fig.add_trace(go.Scatter(x=x, y=list(getattr(s.curves, kind)), name=name, legendgroup=name,
                                     showlegend=col == 1), row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text=ui_text("x_fraction_changed", lang), range=[0, 1], row=1, col=col)
        fig.update_yaxes(title_text=ui_text("x_class_probability", lang), range=[0, 1], row=1, col=col)
    fig.update_layout(height=420, margin={"t": 40, "b": 40})
    return fig


@dataclass
class SanityView:
    figure: Any
    verdict: str
    result: engine.SanityResult


def sanity(
    image: Any,
    checkpoint: str = DEFAULT_CHECKPOINT,
    methods: Any = engine.GRADIENT_METHODS,
    stage: Any = None,
    target: Any = -1,
    ig_steps: Any = limits.SANITY_IG_STEPS.default,
    progress: Progress = None,
    lang: str = DEFAULT_LANGUAGE,
) -> SanityView:
    """Cascading randomization of a copy of the model, head first; each method's rank correlation per step."""
    chosen = _choices(methods, engine.METHODS, "method", len(engine.METHODS))
    where = default_stage(checkpoint) if stage in (None, "") else _stage(stage, checkpoint)
    cls, n_ig = limits.CLASS_INDEX.check(target, strict=True), limits.SANITY_IG_STEPS.check(ig_steps, strict=True)
    p = _prepare(image, checkpoint)
    r = engine.sanity_check(p.pre.model, p.x, chosen, where, class_index=cls, ig_steps=n_ig, progress=progress)
    fig = go.Figure()
    for m, corr in r.correlations.items():
        fig.add_trace(go.Scatter(x=list(r.steps), y=list(corr), mode="lines+markers", name=f"{m} @ {r.stage[m]}"))
    fig.add_hline(y=engine.SANITY_PASS, line_dash="dash", annotation_text=ui_text("x_pass_line", lang))
    fig.update_layout(xaxis_title=ui_text("x_randomized_to", lang), yaxis_title=ui_text("x_rank_correlation", lang),
                      yaxis_range=[-1, 1], height=420, margin={"t": 30, "b": 40})  # fmt: skip
    failed = r.failed
    lines = [ui_text("x_sanity_line", lang).format(method=m, corr=corr[-1],
                                                   verdict=ui_text("x_failed" if m in failed else "x_passed", lang))
             for m, corr in r.correlations.items()]  # fmt: skip
    head = ui_text("x_all_passed", lang) if not failed else ui_text("x_some_failed", lang).format(", ".join(failed))
    return SanityView(fig, "\n".join([head, *lines]), r)


@dataclass
class FeatureView:
    grid: Image.Image
    caption: str
    maps: engine.FeatureMaps


def feature_maps(
    image: Any, checkpoint: str = DEFAULT_CHECKPOINT, stage: Any = None, k: Any = 16, lang: str = DEFAULT_LANGUAGE
) -> FeatureView:
    """A stage's ``k`` most active channels as a grid over the crop."""
    choices = stage_choices(checkpoint)[1:]
    where = default_stage(checkpoint) if stage in (None, "") else _choices(stage, choices, "stage", 1)[0]
    count = limits.TOP_CHANNELS.check(k, strict=True)
    p = _prepare(image, checkpoint)
    fm = engine.feature_maps(p.pre.model, p.x, where, count)
    h, w = fm.resolution
    top = ", ".join(f"ch {c} ({m:.2f})" for c, m in zip(fm.channels, fm.means, strict=True))
    caption = ui_text("x_feature_caption", lang).format(
        stage=fm.stage, channels=fm.channel_count, h=h, w=w, k=len(fm.channels), top=top
    )
    return FeatureView(engine.feature_grid(fm, p.crop), caption, fm)
