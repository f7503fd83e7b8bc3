"""The Walkthrough tab's measurements and tables: the paper's numbers beside this machine's.

The prose is in :mod:`.walkthrough_text`, the paper's numbers in :mod:`effnetv2.paper`.
"""

from __future__ import annotations

import functools
from typing import Any

from ..config import Blocks
from ..errors import MemoryLimitError, TimeLimitError
from ..model import create_model
from ..paper import PAPER_TABLE3, TABLE3_MODEL
from ..profiling import Progress, TrainingComparison, compare_training
from ..stats import stats
from .latency import LatencyReport, measure
from .limits import TABLE3_IMAGE_SIZE, TRAIN_BATCH, TRAINING_POLICY
from .strings import DEFAULT_LANGUAGE, ui_text

THROUGHPUT_MODEL = "efficientnetv2_b0"
THROUGHPUT_SIZES = (128, 160, 192, 224)
SHARES_MODEL = "efficientnet_b0"
"""The model whose per-stage shares of MACs and time are measured for "depthwise convolutions are slow": the
text names EfficientNet-B0 (all MBConv), and this is it (V2-B0, measured before, has Fused-MBConv stages)."""
DIAGRAM_MODEL = "efficientnetv2_s"
DIAGRAM_STAGES = (2, 4)
"""A Fused-MBConv and an MBConv stage of V2-S, drawn side by side."""
TABLE4_MODEL = "efficientnetv2_s"
TABLE4_SIZE = 384


def stage_table_headers(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    keys = ("stage", "operator", "stride", "channels", "layers", "params", "mmacs")
    return [ui_text(k, lang) for k in keys]


@functools.lru_cache(maxsize=1)
def table3_counts() -> dict[str, tuple[int, int]]:
    """{blocks: (params, MACs)} of the paper's four B4 variants at B4's 380 px, counted on the meta device."""
    out = {}
    for v in PAPER_TABLE3:
        s = stats(TABLE3_MODEL, Blocks.parse(TABLE3_MODEL, v.blocks))
        out[s.blocks] = (s.params, s.macs)
    return out


def table3_headers(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    p, m = ui_text("paper", lang), ui_text("this_machine", lang)
    return [
        ui_text("variant", lang),
        "blocks",
        f"{ui_text('params', lang)} ({p})",
        f"FLOPs ({p})",
        f"top-1 ({p})",
        f"TPUv3 imgs/s ({p})",
        f"V100 imgs/s ({p})",
        f"{ui_text('params', lang)} ({m})",
        f"{ui_text('gmacs', lang)} ({m})",
        f"{ui_text('train_images_interval', lang)} ({m})",
    ]


def table3_rows(
    lang: str = DEFAULT_LANGUAGE,
    counted: dict[str, tuple[int, int]] | None = None,
    measured: dict[str, str] | None = None,
) -> list[list]:
    """The paper's Table 3 beside counts (``{blocks: (params, macs)}``) and measured images/s.

    Cells with no count or measurement yet are empty strings, so the table is shown before anything runs.
    """
    counted, measured = counted or {}, measured or {}
    rows = []
    for v in PAPER_TABLE3:
        params, macs = counted.get(v.blocks, (None, None))
        speed = measured.get(v.blocks)
        rows.append(
            [
                ui_text(v.key, lang),
                v.blocks,
                f"{v.params_m:.1f}M",
                f"{v.flops_b:.1f}B",
                f"{v.top1:.1f}%",
                v.tpu_imgs_per_s,
                v.v100_imgs_per_s,
                "" if params is None else f"{params / 1e6:.1f}M",
                "" if macs is None else f"{macs / 1e9:.1f}",
                speed or "",
            ]
        )
    return rows


def table3(lang: str = DEFAULT_LANGUAGE, measured: dict[str, str] | None = None) -> list[list]:
    """The paper's Table 3 beside this app's counts and (when given) this machine's training images/s."""
    return table3_rows(lang, table3_counts(), measured)


def throughput_vs_size(
    model: str = THROUGHPUT_MODEL, sizes: tuple[int, ...] = THROUGHPUT_SIZES, progress: Progress | None = None
) -> TrainingComparison:
    """Training images/s at growing image sizes: progressive learning's argument, measured here.

    The verdict says whether this machine's noise allows the claim "smaller images train faster" to be read
    from it (:func:`~effnetv2.profiling.compare_training` warms every size up first and interleaves them).
    The button has no size control, so where the request would not fit this server's time or memory limits the
    page adapts instead of refusing: it drops the largest sizes (keeping at least two); the chart shows the
    sizes that were measured.
    """
    net = create_model(model)
    kept = sorted(sizes)
    while True:
        setups = [(model, net, size) for size in kept]
        try:
            return compare_training(setups, batch=TRAIN_BATCH.default, progress=progress, policy=TRAINING_POLICY)
        except (TimeLimitError, MemoryLimitError):
            if len(kept) <= 2:
                raise
            kept = kept[:-1]


def depthwise_latency(model: str = SHARES_MODEL, image_size: int = 224) -> LatencyReport:
    """A quick per-stage measurement for the "depthwise convolutions are slow" argument."""
    return measure(Blocks.parse(model, None), image_size, 1, 5)


def table3_throughput(image_size: Any = TABLE3_IMAGE_SIZE.default, progress: Progress | None = None) -> dict:
    """Training images/s of the paper's four EfficientNet-B4 variants on this machine, at ``image_size``.

    Each variant is warmed up first and the steps are interleaved (:func:`~effnetv2.profiling.compare_training`);
    each cell is the median with its 95% interval, "12.3 [11.8-12.9]".
    """
    size = TABLE3_IMAGE_SIZE.check(image_size)
    setups = [(v.blocks, create_model(TABLE3_MODEL, blocks=v.blocks), size) for v in PAPER_TABLE3]
    comparison = compare_training(setups, batch=2, progress=progress, policy=TRAINING_POLICY)
    return {p.label: f"{p.images_per_s:.1f} [{p.low_images_per_s:.1f}-{p.high_images_per_s:.1f}]"
            for p in comparison.points}  # fmt: skip
