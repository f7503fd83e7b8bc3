"""The MBConv vs Fused-MBConv lab: presets, per-stage toggles, the stage table and the comparison."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..bounds import flag
from ..compare import Comparison, Delta
from ..compare import compare as run_compare
from ..config import Blocks, get_arch, list_models
from ..errors import BoundsError, MemoryLimitError
from ..names import stage_name, stage_names
from ..profiling import Progress
from ..stats import stats
from . import charts
from .limits import BATCH, COMPARE_POLICY, IMAGE_SIZE, RUNS, TRAIN_BATCH

DEFAULT_MODEL = "efficientnetv2_b0"
COMPARE_HEADERS = ["blocks", "params", "MACs", "latency", "train images/s", "note"]


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    model: str | None
    """The model the preset switches to, or None to keep the selected one."""
    letters: Callable[[str], str | None]
    """The model -> its blocks letters (None: the published ones)."""

    def apply(self, model: str) -> Blocks:
        model = self.model or model
        return Blocks.parse(model, self.letters(model))


def _all(letter: str) -> Callable[[str], str]:
    return lambda model: letter * len(get_arch(model).stages)


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("published", "As published", None, lambda m: None),
        Preset("all_mbconv", "All MBConv", None, _all("M")),
        Preset("all_fused", "All Fused-MBConv", None, _all("F")),
        Preset("b4_fused_1_3", "Table 3: EfficientNet-B4, fused stages 1-3", "efficientnet_b4", lambda m: "FFFMMMM"),
        Preset("b4_fused_1_5", "Table 3: EfficientNet-B4, fused stages 1-5", "efficientnet_b4", lambda m: "FFFFFMM"),
        Preset("b4_fused_1_7", "Table 3: EfficientNet-B4, fused stages 1-7", "efficientnet_b4", lambda m: "FFFFFFF"),
    )
}


def models() -> list[str]:
    return list_models()


def default_image_size(model: str) -> int:
    return get_arch(model).image_size


def apply_preset(preset: str, model: str) -> Blocks:
    """The blocks (and, through ``.model``, the model) after choosing a preset by its key or its label."""
    match = next((p for p in PRESETS.values() if preset in (p.key, p.label)), None)
    if match is None:
        raise BoundsError(f"unknown preset {preset!r}; known: {', '.join(p.label for p in PRESETS.values())}")
    return match.apply(model)


def stage_choices(model: str) -> list[str]:
    return stage_names(len(get_arch(model).stages))


def blocks_from_fused(model: str, fused: list[str] | None) -> Blocks:
    """The per-stage toggles (the names of the Fused-MBConv stages) -> blocks like ``FFFMMM``."""
    names = stage_choices(model)
    chosen = set(fused or ())
    unknown = sorted(chosen - set(names))
    if unknown:
        raise BoundsError(f"{model} has stages {names[0]}-{names[-1]}; unknown: {', '.join(unknown)}")
    return Blocks.parse(model, "".join("F" if n in chosen else "M" for n in names))


def fused_from_blocks(blocks: Blocks) -> list[str]:
    return [stage_name(i) for i, ch in enumerate(blocks, start=1) if ch == "F"]


def stage_rows(blocks: Blocks, image_size: Any = None) -> list[list]:
    """The paper's Table 4 for any model: stage, operator, stride, channels, layers, params, MMACs."""
    size = IMAGE_SIZE.check(image_size) if image_size else None
    s = stats(blocks.model, blocks, size)
    return [[r.name, r.block, r.stride, r.channels, r.layers, r.params, round(r.macs / 1e6, 1)] for r in s.stages]


def compare(
    blocks: Blocks,
    image_size: Any = 224,
    batch: Any = BATCH.default,
    runs: Any = RUNS.default,
    train: bool = True,
    progress: Progress | None = None,
) -> Comparison:
    """The published blocks of ``blocks.model`` against ``blocks`` (params, MACs, per-stage latency, training
    images/s); the baseline alone when ``blocks`` are the published ones.

    Refused before the first measurement when its estimated memory or time does not fit (``COMPARE_POLICY``);
    the training batch is fixed here, so no message asks for a smaller one.
    """
    try:
        return run_compare(
            blocks.model,
            [] if blocks.published else [blocks],
            image_size=IMAGE_SIZE.check(image_size, strict=True),
            batch=BATCH.check(batch, strict=True),
            runs=RUNS.check(runs, strict=True),
            train=flag("train", train),  # the string "false" is refused, not truthy
            train_batch=TRAIN_BATCH.default,
            progress=progress,
            policy=COMPARE_POLICY,
        )
    except MemoryLimitError as exc:  # ran out despite the estimate (other work took the memory meanwhile)
        if not exc.setting.startswith("training"):
            raise
        raise MemoryLimitError(
            f"out of memory for {exc.setting}: choose a smaller image size or turn training off (the training "
            f"batch is fixed at {TRAIN_BATCH.default} here)",
            exc.setting,
        ) from None


def _labels(result: Comparison) -> list[str]:
    return [("baseline " if i == 0 else "") + v.blocks for i, v in enumerate(result.rows)]


def compare_figures(result: Comparison, lang: str = "en") -> tuple:
    """Per-stage latency side by side, total time, and training images/s (when measured)."""
    rows, labels = result.rows, _labels(result)
    per_stage = charts.compare_figure([v.latency for v in rows], labels, lang)
    totals = charts.totals_figure(labels, [v.latency.total_ms for v in rows], "end-to-end latency", "ms")
    train = [v.images_per_s for v in rows]
    throughput = charts.totals_figure(labels, train, "training throughput", "images/s") if None not in train else None
    return per_stage, totals, throughput


def compare_table(result: Comparison) -> list[list]:
    """One row per variant: blocks, params, MACs, latency, training images/s, each with its change."""

    def pct(d: Delta | None) -> str:
        return "" if d is None or d.pct is None else f" ({d.pct:+.0f}%)"

    out = []
    for i, v in enumerate(result.rows):
        d = result.deltas(v) if i else None
        ips = v.images_per_s
        out.append(
            [
                v.blocks,
                f"{v.params / 1e6:.2f}M{pct(d and d.params)}",
                f"{v.macs / 1e9:.2f}G{pct(d and d.macs)}",
                f"{v.latency.total_ms:.1f} ms{pct(d and d.total_ms)}",
                "" if ips is None else f"{ips:.1f}{pct(d and d.images_per_s)}",
                v.note or "",
            ]
        )
    return out
