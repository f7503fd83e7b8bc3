"""The paper's own numbers (Tan & Le, EfficientNetV2, ICML 2021), as printed, for the app to show beside
its counts and measurements."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperVariant:
    """One row of the paper's Table 3 (EfficientNet-B4, MBConv replaced by Fused-MBConv in early stages)."""

    key: str
    blocks: str
    params_m: float
    flops_b: float
    top1: float
    tpu_imgs_per_s: int
    v100_imgs_per_s: int


PAPER_TABLE3: tuple[PaperVariant, ...] = (
    PaperVariant("no_fused", "MMMMMMM", 19.3, 4.5, 82.8, 262, 155),
    PaperVariant("fused_1_3", "FFFMMMM", 20.0, 7.5, 83.1, 362, 216),
    PaperVariant("fused_1_5", "FFFFFMM", 43.4, 21.3, 83.1, 327, 223),
    PaperVariant("fused_1_7", "FFFFFFF", 132.0, 34.4, 81.7, 254, 206),
)
"""The paper's Table 3 as printed: params (M), FLOPs (B multiply-adds), top-1 (%), TPUv3 imgs/s/core and
V100 imgs/s/gpu, training speed."""
TABLE3_MODEL = "efficientnet_b4"
