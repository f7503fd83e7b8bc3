"""The EfficientNet family as data: one stage table per architecture, read like the paper's Table 4.

A table lists the *base* stages; an architecture scales it by a width and a depth multiplier
(EfficientNet's compound scaling). Letters in ``blocks`` pick Fused-MBConv (``F``) or MBConv (``M``)
per stage, so that the paper's MBConv vs Fused-MBConv experiment is a one-string change.

Three families: EfficientNetV2, EfficientNet (V1) and EfficientNet-Lite, V1 made for phones and edge
accelerators (no SE, ReLU6, stem and head kept at every width, first and last stages kept at every depth).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, replace
from typing import Literal

from .errors import BlocksError, UnknownModelError

Operator = Literal["Fused-MBConv", "MBConv"]
Activation = Literal["silu", "relu6"]
Family = Literal["EfficientNetV2", "EfficientNet", "EfficientNet-Lite"]
LETTER_OF: dict[str, str] = {"Fused-MBConv": "F", "MBConv": "M"}
OPERATOR_OF: dict[str, Operator] = {"F": "Fused-MBConv", "M": "MBConv"}
SE_RATIO = 0.25
"""MBConv blocks carry squeeze-and-excitation with this ratio; Fused-MBConv blocks carry none (paper, Sec. 3.2)."""


@dataclass(frozen=True)
class Stage:
    """One row of the paper's Table 4: ``layers`` blocks of ``operator``; the first has the stride."""

    operator: Operator
    expand: int
    kernel: int
    stride: int
    channels: int
    layers: int
    se: float = 0.0

    @property
    def letter(self) -> str:
        return LETTER_OF[self.operator]

    @property
    def label(self) -> str:
        """The paper's spelling, e.g. ``MBConv6, k3x3, SE0.25``; expansion 1 Fused is a plain conv."""
        if self.operator == "Fused-MBConv" and self.expand == 1:
            return f"Conv{self.kernel}x{self.kernel}"
        se = f", SE{self.se:g}" if self.se else ""
        return f"{self.operator}{self.expand}, k{self.kernel}x{self.kernel}{se}"


def _stages(*rows: tuple[str, int, int, int, int, int, float]) -> tuple[Stage, ...]:
    return tuple(Stage(OPERATOR_OF[op], e, k, s, c, n, se) for op, e, k, s, c, n, se in rows)


# Base tables. Columns: operator, expansion, kernel, stride, channels, layers, SE ratio.
# The stem (stage 0) is a 3x3 stride-2 conv; the head is Conv1x1 + pooling + FC.
V2_BASE = _stages(  # EfficientNetV2-B0 before scaling (official code; the paper does not print it)
    ("F", 1, 3, 1, 16, 1, 0.0),
    ("F", 4, 3, 2, 32, 2, 0.0),
    ("F", 4, 3, 2, 48, 2, 0.0),
    ("M", 4, 3, 2, 96, 3, SE_RATIO),
    ("M", 6, 3, 1, 112, 5, SE_RATIO),
    ("M", 6, 3, 2, 192, 8, SE_RATIO),
)
V2_S = _stages(  # paper Table 4
    ("F", 1, 3, 1, 24, 2, 0.0),
    ("F", 4, 3, 2, 48, 4, 0.0),
    ("F", 4, 3, 2, 64, 4, 0.0),
    ("M", 4, 3, 2, 128, 6, SE_RATIO),
    ("M", 6, 3, 1, 160, 9, SE_RATIO),
    ("M", 6, 3, 2, 256, 15, SE_RATIO),
)
V2_M = _stages(
    ("F", 1, 3, 1, 24, 3, 0.0),
    ("F", 4, 3, 2, 48, 5, 0.0),
    ("F", 4, 3, 2, 80, 5, 0.0),
    ("M", 4, 3, 2, 160, 7, SE_RATIO),
    ("M", 6, 3, 1, 176, 14, SE_RATIO),
    ("M", 6, 3, 2, 304, 18, SE_RATIO),
    ("M", 6, 3, 1, 512, 5, SE_RATIO),
)
V2_L = _stages(
    ("F", 1, 3, 1, 32, 4, 0.0),
    ("F", 4, 3, 2, 64, 7, 0.0),
    ("F", 4, 3, 2, 96, 7, 0.0),
    ("M", 4, 3, 2, 192, 10, SE_RATIO),
    ("M", 6, 3, 1, 224, 19, SE_RATIO),
    ("M", 6, 3, 2, 384, 25, SE_RATIO),
    ("M", 6, 3, 1, 640, 7, SE_RATIO),
)
V2_XL = _stages(
    ("F", 1, 3, 1, 32, 4, 0.0),
    ("F", 4, 3, 2, 64, 8, 0.0),
    ("F", 4, 3, 2, 96, 8, 0.0),
    ("M", 4, 3, 2, 192, 16, SE_RATIO),
    ("M", 6, 3, 1, 256, 24, SE_RATIO),
    ("M", 6, 3, 2, 512, 32, SE_RATIO),
    ("M", 6, 3, 1, 640, 8, SE_RATIO),
)
V1_BASE = _stages(  # EfficientNet-B0 (Tan & Le, 2019); stage 1 is MBConv1 = depthwise-separable
    ("M", 1, 3, 1, 16, 1, SE_RATIO),
    ("M", 6, 3, 2, 24, 2, SE_RATIO),
    ("M", 6, 5, 2, 40, 2, SE_RATIO),
    ("M", 6, 3, 2, 80, 3, SE_RATIO),
    ("M", 6, 5, 1, 112, 3, SE_RATIO),
    ("M", 6, 5, 2, 192, 4, SE_RATIO),
    ("M", 6, 3, 1, 320, 1, SE_RATIO),
)
# EfficientNet-Lite (TF's efficientnet/lite): V1's table without squeeze-and-excitation. Lite also swaps SiLU
# for ReLU6 and fixes the stem, the head and the first and last stages' depth: see the Arch fields below.
LITE_BASE = tuple(replace(s, se=0.0) for s in V1_BASE)


@dataclass(frozen=True)
class Arch:
    """A named architecture: a base table plus compound scaling and the numerics of the TF originals."""

    name: str
    family: Family
    stages: tuple[Stage, ...]
    stem: int
    head: int
    width: float = 1.0
    depth: float = 1.0
    round_limit: float = 0.0
    """V1 rounds channels up when rounding lost over 10% (0.9); V2 never does (0.0)."""
    dropout: float = 0.2
    image_size: int = 224
    """The evaluation size of the official checkpoint (the default for statistics and benchmarks)."""
    act: Activation = "silu"
    """Every activation but SE's: SiLU (swish) in V1/V2; ReLU6 in Lite, whose bounded output range makes
    post-training 8-bit quantization easy (TF's Lite README gives that reason)."""
    mbconv_se: float = SE_RATIO
    """The SE ratio of MBConv stages, also those a ``blocks`` switch makes: 0.25, and 0 in Lite (no SE)."""
    fixed_stem_head: bool = False
    """Lite keeps the stem (32) and head (1280) channels at every width, so scaled-up models stay small and fast."""
    fixed_first_last: bool = False
    """Lite keeps the first and last stages' depth at every depth multiplier."""

    def channels(self, c: int) -> int:
        return make_divisible(c * self.width, 8, self.round_limit)

    def repeats(self, n: int, stage: int | None = None) -> int:
        """Scaled layers of a stage (``stage``: its 0-based index, for Lite's fixed first and last stages)."""
        if self.fixed_first_last and stage in (0, len(self.stages) - 1):
            return n
        return math.ceil(n * self.depth)

    @property
    def default_blocks(self) -> str:
        return "".join(s.letter for s in self.stages)

    def scaled(self, blocks: str | None = None) -> ScaledArch:
        """Apply width/depth scaling and the ``blocks`` letters; returns the concrete stage list."""
        letters = self.validate_blocks(blocks)
        stages = tuple(
            switch_operator(
                replace(s, channels=self.channels(s.channels), layers=self.repeats(s.layers, i)),
                OPERATOR_OF[letter],
                self.mbconv_se,
            )
            for i, (s, letter) in enumerate(zip(self.stages, letters, strict=True))
        )
        fixed = self.fixed_stem_head
        stem, head = (self.stem, self.head) if fixed else (self.channels(self.stem), self.channels(self.head))
        return ScaledArch(self, letters, stem, head, stages)

    def validate_blocks(self, blocks: str | None) -> str:
        if blocks is None:
            return self.default_blocks
        if isinstance(blocks, Blocks) and blocks.model == self.name:
            return str(blocks)  # parsed at the edge already
        if not isinstance(blocks, str):
            raise BlocksError(f"blocks must be a string of F/M letters, got {type(blocks).__name__}")
        letters = blocks.strip().upper()
        n = len(self.stages)
        bad = sorted({ch for ch in letters if ch not in OPERATOR_OF})
        if len(letters) != n or bad:
            what = f"letters {', '.join(map(repr, bad))} are not F or M" if bad else f"got {len(letters)} letters"
            raise BlocksError(
                f"blocks for {self.name} must be {n} letters F (Fused-MBConv) or M (MBConv), one per stage 1-{n} "
                f"(as published: {self.default_blocks!r}); {what}"
            )
        return letters


class Blocks(str):
    """F/M letters checked against one architecture: parsed once where they enter (UI, CLI, API).

    A ``str`` (so it prints, compares and serialises as the letters), which the engine accepts without
    checking it again. ``Blocks.parse(model, "")`` and ``Blocks.parse(model, None)`` are the published blocks.
    """

    model: str

    def __new__(cls, letters: str, model: str) -> Blocks:
        obj = super().__new__(cls, letters)
        obj.model = model
        return obj

    @classmethod
    def parse(cls, model: str, text: str | None) -> Blocks:
        arch = get_arch(model)
        if text is None or (isinstance(text, str) and not text.strip()):
            return cls(arch.default_blocks, arch.name)
        if isinstance(text, Blocks) and text.model == arch.name:
            return text
        return cls(arch.validate_blocks(text), arch.name)

    @property
    def published(self) -> bool:
        return self == get_arch(self.model).default_blocks

    def __reduce__(self):  # pickles and copies keep the model
        return (Blocks, (str(self), self.model))


@dataclass(frozen=True)
class ScaledArch:
    """An architecture after scaling and operator choice: exactly what the model builder builds."""

    arch: Arch
    blocks: str
    stem: int
    head: int
    stages: tuple[Stage, ...]


def switch_operator(stage: Stage, operator: Operator, mbconv_se: float = SE_RATIO) -> Stage:
    """The rules of a switch: Fused-MBConv has no SE; MBConv has the family's SE (0.25; none in Lite);
    expansion and kernel are kept.

    So an expansion-1 stage switched to MBConv becomes depthwise-separable (depthwise kxk, SE, 1x1 project),
    and an expansion-1 stage switched to Fused-MBConv becomes a single kxk conv.
    """
    if operator == stage.operator:
        return stage
    return replace(stage, operator=operator, se=mbconv_se if operator == "MBConv" else 0.0)


def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.0) -> int:
    """Round to the nearest multiple of ``divisor`` (TF's rule), bumping up if that lost more than allowed."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def _v2(
    name: str,
    stages: tuple[Stage, ...],
    stem: int,
    *,
    width: float = 1.0,
    depth: float = 1.0,
    dropout: float,
    image_size: int,
) -> Arch:
    # The official B0-B3 scale channels with no 90% rule; S-XL (width 1.0) keep it for other widths.
    round_limit = 0.0 if stages is V2_BASE else 0.9
    return Arch(name, "EfficientNetV2", stages, stem, 1280, width, depth, round_limit, dropout, image_size)


def _v1(name: str, width: float, depth: float, image_size: int, dropout: float) -> Arch:
    return Arch(name, "EfficientNet", V1_BASE, 32, 1280, width, depth, 0.9, dropout, image_size)


def _lite(name: str, width: float, depth: float, image_size: int, dropout: float) -> Arch:
    return Arch(
        name,
        "EfficientNet-Lite",
        LITE_BASE,
        32,
        1280,
        width,
        depth,
        0.9,
        dropout,
        image_size,
        act="relu6",
        mbconv_se=0.0,
        fixed_stem_head=True,
        fixed_first_last=True,
    )


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        # EfficientNetV2: (width, depth) multipliers from the official code; sizes are the eval sizes.
        _v2("efficientnetv2_b0", V2_BASE, 32, dropout=0.2, image_size=224),
        _v2("efficientnetv2_b1", V2_BASE, 32, depth=1.1, dropout=0.2, image_size=240),
        _v2("efficientnetv2_b2", V2_BASE, 32, width=1.1, depth=1.2, dropout=0.3, image_size=260),
        _v2("efficientnetv2_b3", V2_BASE, 32, width=1.2, depth=1.4, dropout=0.3, image_size=300),
        _v2("efficientnetv2_s", V2_S, 24, dropout=0.2, image_size=384),
        _v2("efficientnetv2_m", V2_M, 24, dropout=0.3, image_size=480),
        _v2("efficientnetv2_l", V2_L, 32, dropout=0.4, image_size=480),
        _v2("efficientnetv2_xl", V2_XL, 32, dropout=0.4, image_size=512),
        # EfficientNet (V1): (width, depth, resolution, dropout) from the EfficientNet paper.
        _v1("efficientnet_b0", 1.0, 1.0, 224, 0.2),
        _v1("efficientnet_b1", 1.0, 1.1, 240, 0.2),
        _v1("efficientnet_b2", 1.1, 1.2, 260, 0.3),
        _v1("efficientnet_b3", 1.2, 1.4, 300, 0.3),
        _v1("efficientnet_b4", 1.4, 1.8, 380, 0.4),
        _v1("efficientnet_b5", 1.6, 2.2, 456, 0.4),
        _v1("efficientnet_b6", 1.8, 2.6, 528, 0.5),
        _v1("efficientnet_b7", 2.0, 3.1, 600, 0.5),
        # EfficientNet-Lite: (width, depth, dropout) from TF's lite builder; sizes are the eval sizes of timm's
        # ports (TF's table says 280 and 300 for Lite3 and Lite4; the checkpoints are evaluated at 300 and 380).
        _lite("efficientnet_lite0", 1.0, 1.0, 224, 0.2),
        _lite("efficientnet_lite1", 1.0, 1.1, 240, 0.2),
        _lite("efficientnet_lite2", 1.1, 1.2, 260, 0.3),
        _lite("efficientnet_lite3", 1.2, 1.4, 300, 0.3),
        _lite("efficientnet_lite4", 1.4, 1.8, 380, 0.3),
    )
}


def list_models() -> list[str]:
    return list(ARCHS)


def get_arch(name: str) -> Arch:
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    try:
        return ARCHS[key]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(key), ARCHS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(ARCHS)}"
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None
