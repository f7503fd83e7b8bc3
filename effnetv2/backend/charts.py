"""Plotly figures of the app, made from the engine's typed results (:class:`effnetv2.profiling.Latency`)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from ..config import get_arch
from ..names import stage_names
from ..profiling import Latency, StageLatency, TrainingComparison
from .strings import DEFAULT_LANGUAGE, ui_text

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#4b5563")
_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
    "plot_bgcolor": "white",
    "paper_bgcolor": "white",
    "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
}


def _style(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=height, **_LAYOUT)
    fig.update_yaxes(gridcolor="#e5e7eb", zeroline=False)
    return fig


def describe(result: Latency) -> str:
    """One line of measurement facts: model, blocks, device, dtype, threads, batch, size, runs."""
    c = result.context
    return ", ".join(
        [
            f"{c.model} ({c.blocks})",
            f"device {c.device}",
            f"dtype {c.dtype}",
            f"threads {c.threads}",
            f"batch {c.batch}",
            f"{_size(c.image_size)} px",
            f"runs {result.runs}",
        ]
    )


def _size(size: int | Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}" if isinstance(size, (list, tuple)) else str(size)


def interval_bars(values: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> dict:
    """Plotly error bars from each value down to its low and up to its high end."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [h - v for v, h in zip(values, highs, strict=True)],
        "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
    }


def _error_bars(stages: Sequence[StageLatency]) -> dict:
    """The 95% interval of each stage's median (:func:`effnetv2.measure.median_interval`), not the spread of
    single runs: whether two bars differ is read from their intervals."""
    return interval_bars(
        [s.median_ms for s in stages], [float(s.low_ms) for s in stages], [float(s.high_ms) for s in stages]
    )


def latency_figure(result: Latency, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Median time per stage with its 95% interval, and the stage sum against end-to-end in the title."""
    stages = result.stages
    fig = go.Figure(
        go.Bar(
            x=[s.name for s in stages],
            y=[s.median_ms for s in stages],
            marker_color=PALETTE[0],
            error_y={**_error_bars(stages), "color": "#111827"},
            hovertemplate="%{x}: %{y:.2f} ms<extra></extra>",
            name=ui_text("median_ms", lang),
        )
    )
    c = result.context
    title = (
        f"{ui_text('latency_chart', lang)}: {c.model}, {_size(c.image_size)} px — "
        f"Σ {result.stage_sum_ms:.1f} ms / {ui_text('end_to_end', lang)} {result.total_ms:.1f} ms"
    )
    fig.update_yaxes(title_text=ui_text("median_ms", lang))
    return _style(fig, title)


def shares(result: Latency) -> list[tuple[str, float, float]]:
    """(stage, share of MACs, share of time) per stage; shares are fractions of the stage totals."""
    stages = result.stages
    total_macs = sum(s.macs for s in stages) or 1
    total_ms = sum(s.median_ms for s in stages) or 1.0
    return [(s.name, s.macs / total_macs, s.median_ms / total_ms) for s in stages]


def share_figure(result: Latency, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Each stage's share of MACs beside its share of time: where time > MACs, the arithmetic runs slowly."""
    rows = shares(result)
    names = [r[0] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[100 * r[1] for r in rows], name=ui_text("share_macs", lang), marker_color="#9ca3af")
    fig.add_bar(x=names, y=[100 * r[2] for r in rows], name=ui_text("share_time", lang), marker_color=PALETTE[1])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=ui_text("share_percent", lang), ticksuffix="%")
    c = result.context
    return _style(fig, f"{ui_text('share_chart', lang)}: {c.model} ({c.blocks})")


def compare_figure(
    results: Sequence[Latency],
    labels: Sequence[str] | None = None,
    lang: str = DEFAULT_LANGUAGE,
    controls: Sequence[str] = (),
) -> go.Figure:
    """Per-stage median latency of several variants side by side (same stages, e.g. baseline vs blocks), each
    with its 95% interval; ``controls`` (stages that are the same in every variant) are hatched."""
    fig = go.Figure()
    for i, r in enumerate(results):
        c = r.context
        label = labels[i] if labels else f"{c.model} {c.blocks} {_size(c.image_size)}px"
        fig.add_bar(
            x=[s.name for s in r.stages],
            y=[s.median_ms for s in r.stages],
            error_y=_error_bars(r.stages),
            name=label,
            marker_color=PALETTE[i % len(PALETTE)],
            marker_pattern_shape=["/" if s.name in controls else "" for s in r.stages],
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=ui_text("median_ms", lang))
    title = ui_text("latency_chart", lang)
    if controls:
        title += f"<br><sub>{ui_text('controls_note', lang)}</sub>"
    return _style(fig, title)


def totals_figure(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    axis: str,
    *,
    intervals: Sequence[tuple[float, float]] | None = None,
    text: Sequence[str] | None = None,
) -> go.Figure:
    """One bar per variant (latency, images/s ...) with its 95% interval, labelled with ``text`` (e.g. each
    variant's verdict against the baseline: a percentage only where the verdict found a difference)."""
    bars = go.Bar(
        x=list(labels),
        y=list(values),
        text=list(text) if text is not None else None,
        textposition="outside",
        marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(values))],
    )
    if intervals is not None:
        bars.error_y = interval_bars(values, [lo for lo, _ in intervals], [hi for _, hi in intervals])
    fig = go.Figure(bars)
    fig.update_yaxes(title_text=axis, rangemode="tozero")
    return _style(fig, title, height=340)


def throughput_figure(
    comparison: TrainingComparison, lang: str = DEFAULT_LANGUAGE, requested: Sequence[int] = ()
) -> go.Figure:
    """Training images/s against image size (progressive learning's argument), with each median's 95% interval.

    The title says whether the intervals support the claim "smaller images train faster" on this machine.
    """
    pts = sorted(comparison.points, key=lambda p: p.image_size)
    fig = go.Figure()
    fig.add_scatter(
        x=[p.image_size for p in pts],
        y=[p.images_per_s for p in pts],
        error_y=interval_bars(
            [p.images_per_s for p in pts],
            [p.low_images_per_s or p.images_per_s for p in pts],
            [p.high_images_per_s or p.images_per_s for p in pts],
        ),
        mode="lines+markers+text",
        text=[f"{p.images_per_s:.1f}" for p in pts],
        textposition="top center",
        name=pts[0].label if pts else "",
        line={"color": PALETTE[0]},
    )
    fig.update_xaxes(title_text=ui_text("image_size", lang), gridcolor="#e5e7eb")
    fig.update_yaxes(title_text=ui_text("images_per_s", lang), rangemode="tozero")
    batch = f" ({ui_text('batch', lang)} {pts[0].batch})" if pts else ""
    verdict = ui_text(f"verdict_{comparison.verdict.replace(' ', '_')}", lang)
    left_out = sorted(set(requested) - {p.image_size for p in pts})
    if left_out:  # the page adapted to this server's limits: it says so
        sizes = ", ".join(str(s) for s in left_out)
        verdict += "<br>" + ui_text("sizes_left_out", lang).format(sizes=sizes)
    return _style(fig, f"{ui_text('measure_throughput', lang)}{batch}<br><sub>{verdict}</sub>")


def layers_per_stage(models: Sequence[str]) -> dict[str, list[int]]:
    """Layers of each stage (1..N) after depth scaling, from the model definitions."""
    return {m: [s.layers for s in get_arch(m).scaled().stages] for m in models}


SCALING_MODELS: tuple[str, ...] = (
    "efficientnet_b0",
    "efficientnet_b4",
    "efficientnet_b7",
    "efficientnetv2_s",
    "efficientnetv2_m",
    "efficientnetv2_l",
    "efficientnetv2_xl",
)


def scaling_figure(models: Sequence[str] = SCALING_MODELS, lang: str = DEFAULT_LANGUAGE) -> go.Figure:
    """Layers per stage: V1 grows every stage by one factor, V2 adds its layers to the later stages."""
    fig = go.Figure()
    for i, (m, layers) in enumerate(layers_per_stage(models).items()):
        dash = "dot" if m.startswith("efficientnet_") else "solid"
        fig.add_scatter(
            x=stage_names(len(layers)),
            y=layers,
            mode="lines+markers",
            name=m,
            line={"dash": dash, "color": PALETTE[i % len(PALETTE)]},
        )
    fig.update_yaxes(title_text=ui_text("layers", lang), rangemode="tozero")
    return _style(fig, f"{ui_text('layers_per_stage', lang)} ({ui_text('v1_dotted_v2_solid', lang)})")
