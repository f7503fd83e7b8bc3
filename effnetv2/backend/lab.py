"""The MBConv vs Fused-MBConv lab: presets, per-stage toggles, the stage table and the comparison.

The baseline is the model with every stage MBConv, what the paper's Fused-MBConv replaces; the chosen blocks
(by default the published ones: V2-B0's FFFMMM, the paper's "fuse stages 1-3") are the variant, so the first
click with the defaults compares something. Choosing all-MBConv gives an A/A comparison, which shows the
machine's noise alone. Verdicts, intervals and controls come from :mod:`effnetv2.measure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..bounds import flag
from ..compare import Comparison, Delta, controls
from ..compare import compare as run_compare
from ..config import Blocks, get_arch, list_models
from ..errors import BoundsError, MemoryLimitError
from ..measure import AUTO, CANT_TELL, FASTER, SLOWER, Difference, parse_threads
from ..names import stage_name, stage_names
from ..profiling import Progress
from ..stats import stats
from . import charts
from .limits import BATCH, COMPARE_POLICY, IMAGE_SIZE, LAB_ROUNDS, TRAIN_BATCH
from .strings import DEFAULT_LANGUAGE, ui_text
from .verdicts import noise_text, verdict_text

DEFAULT_MODEL = "efficientnetv2_b0"
COLUMNS = ("col_blocks", "params", "gmacs", "col_latency", "col_train", "col_verdict_latency", "col_verdict_train",
           "col_note")  # fmt: skip
"""The comparison table's headers, keys of :mod:`.strings`."""


def compare_headers(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    return [ui_text(k, lang) for k in COLUMNS]


def baseline_blocks(model: str) -> Blocks:
    """Every stage MBConv: the network before the paper replaced its early stages with Fused-MBConv."""
    return Blocks.parse(model, "M" * len(get_arch(model).stages))


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
    runs: Any = LAB_ROUNDS.default,
    train: bool = True,
    threads: Any = AUTO,
    progress: Progress | None = None,
) -> Comparison:
    """All-MBConv (:func:`baseline_blocks`) against ``blocks``: params, MACs, per-stage latency and training
    images/s, each difference with its interval and verdict; ``runs`` is the most rounds (fewer when the
    intervals are tight early). ``blocks`` equal to the baseline: an A/A comparison.

    Refused before the first measurement when its estimated memory or time does not fit (``COMPARE_POLICY``);
    the training batch is fixed here, so no message asks for a smaller one.
    """
    try:
        return run_compare(
            blocks.model,
            [blocks],
            baseline_blocks=baseline_blocks(blocks.model),
            image_size=IMAGE_SIZE.check(image_size, strict=True),
            batch=BATCH.check(batch, strict=True),
            runs=LAB_ROUNDS.check(runs, strict=True),
            train=flag("train", train),  # the string "false" is refused, not truthy
            train_batch=TRAIN_BATCH.default,
            threads=parse_threads(threads),
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
    keys = [f"{v.blocks} @ {v.image_size}px" for v in result.rows]
    return [("baseline " if i == 0 else "") + v.blocks + (" (A/A)" if i and keys[i] == keys[0] else "")
            for i, v in enumerate(result.rows)]  # fmt: skip


def _bar_label(diff: Difference | None, lang: str, per_time: bool) -> str:
    """A variant bar's label: its change in the chart's unit where the verdict found one (time for latency,
    images/s for training), else what the verdict says instead."""
    if diff is None:
        return ui_text("baseline", lang)
    if diff.verdict in (FASTER, SLOWER):
        r = diff.ratio.value
        return f"{100 * (r - 1 if per_time else 1 / r - 1):+.0f}%"
    return ui_text("bar_cant_tell" if diff.verdict == CANT_TELL else "bar_too_noisy", lang)


def compare_figures(result: Comparison, lang: str = DEFAULT_LANGUAGE) -> tuple:
    """Per-stage latency side by side (controls hatched), end-to-end latency and training images/s (when
    measured), every bar with its 95% interval and labelled with its verdict against the baseline."""
    rows, labels = result.rows, _labels(result)
    same = set.intersection(*(set(controls((rows[0].blocks, rows[0].image_size), (v.blocks, v.image_size)))
                              for v in rows[1:])) if len(rows) > 1 else set()  # fmt: skip
    per_stage = charts.compare_figure([v.latency for v in rows], labels, lang, sorted(same))
    lat_text = [_bar_label(None, lang, True)] + [
        _bar_label(result.verdicts(i)[0], lang, True) for i in range(len(result.variants))
    ]
    totals = charts.totals_figure(
        labels,
        [v.latency.total_ms for v in rows],
        ui_text("end_to_end", lang),
        "ms",
        intervals=[(float(v.latency.total.low_ms), float(v.latency.total.high_ms)) for v in rows],
        text=lat_text,
    )
    throughput = None
    if all(v.throughput is not None for v in rows):
        train_text = [_bar_label(None, lang, False)] + [
            _bar_label(result.verdicts(i)[1], lang, False) for i in range(len(result.variants))
        ]
        throughput = charts.totals_figure(
            labels,
            [v.throughput.images_per_s for v in rows],
            ui_text("train_chart", lang),
            ui_text("images_per_s", lang),
            intervals=[v.throughput.images_per_s_interval for v in rows],
            text=train_text,
        )
    return per_stage, totals, throughput


def _sum_ratio(result: Comparison) -> float | None:
    """The stage sum / end-to-end ratio of the first configuration whose stages do not add up, if any."""
    return next((v.latency.ratio for v in result.rows if not v.latency.agrees), None)


def verdict_lines(result: Comparison, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """Every verdict of the comparison in words, latency then training, per variant."""
    out = []
    for i in range(len(result.variants)):
        lat, train = result.verdicts(i)
        for key, diff in (("m_latency", lat), ("m_training", train)):
            if diff is not None:
                out.append(f"{ui_text(key, lang)}: {verdict_text(diff, lang, _sum_ratio(result))}")
    return out


def summary(result: Comparison, lang: str = DEFAULT_LANGUAGE) -> str:
    """Markdown for the page: the verdicts, the A/A note where it applies, and the machine-noise lines."""
    lines = [f"- {line}" for line in verdict_lines(result, lang)]
    if any(label.endswith("(A/A)") for label in _labels(result)):
        lines.append(f"- {ui_text('v_aa', lang)}")
    lines.append(f"- {ui_text('m_latency', lang)}: {noise_text(result.conditions, lang)}")
    if result.training_conditions is not None:
        lines.append(f"- {ui_text('m_training', lang)}: {noise_text(result.training_conditions, lang)}")
    return "\n".join(lines)


def compare_table(result: Comparison, lang: str = DEFAULT_LANGUAGE) -> list[list]:
    """One row per configuration: blocks, params, MACs, latency and training images/s with their intervals,
    and each variant's verdicts against the baseline."""

    def pct(d: Delta | None) -> str:
        return "" if d is None or d.pct is None else f" ({d.pct:+.0f}%)"

    out = []
    for i, v in enumerate(result.rows):
        d = result.deltas(v) if i else None
        lat, train = result.verdicts(i - 1) if i else (None, None)
        t = v.latency.total
        ips = ""
        if v.throughput is not None:
            low, high = v.throughput.images_per_s_interval
            ips = f"{v.throughput.images_per_s:.1f} [{low:.1f}-{high:.1f}]"
        out.append(
            [
                _labels(result)[i],
                f"{v.params / 1e6:.2f}M{pct(d and d.params)}",
                f"{v.macs / 1e9:.2f}G{pct(d and d.macs)}",
                f"{t.median_ms:.1f} ms [{t.low_ms:.1f}-{t.high_ms:.1f}]",
                ips,
                "" if lat is None else verdict_text(lat, lang, _sum_ratio(result)),
                "" if train is None else verdict_text(train, lang),
                v.note or "",
            ]
        )
    return out
