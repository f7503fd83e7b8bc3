"""The EfficientNet / EfficientNetV2 network, built from a stage table.

Stages are attributes named as in the paper (``stem``, ``stage1`` ... ``stageN``, ``head``) so that timing
and Grad-CAM hooks can address each one, and ``forward_stages`` returns every stage's output.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from os import PathLike
from typing import Any

import torch
from torch import nn

from .blocks import BLOCK_TYPES
from .config import Arch, ScaledArch, get_arch
from .layers import PADDING_MODES, ConvBNAct
from .names import HEAD, STEM, stage_name

StateDict = dict[str, torch.Tensor]


class Head(nn.Module):
    """Conv1x1 -> BN -> SiLU (ReLU6 in Lite) -> global average pool -> dropout (training only) -> FC."""

    def __init__(self, in_ch: int, features: int, num_classes: int, dropout: float, bn_eps: float, act: str = "silu"):
        super().__init__()
        self.conv = ConvBNAct(in_ch, features, 1, act=act, bn_eps=bn_eps)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.conv(x)).flatten(1)))


class EfficientNet(nn.Module):
    """stem -> stage1..stageN -> head. Build it with :func:`create_model`."""

    def __init__(
        self,
        spec: ScaledArch,
        num_classes: int = 1000,
        *,
        padding: str = "same",
        bn_eps: float = 1e-3,
        drop_rate: float | None = None,
        drop_path_rate: float = 0.2,
    ):
        super().__init__()
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be one of {', '.join(PADDING_MODES)}, got {padding!r}")
        self.spec = spec
        self.num_classes = num_classes
        act = spec.arch.act
        self.stem = ConvBNAct(3, spec.stem, 3, 2, act=act, padding=padding, bn_eps=bn_eps)
        total = sum(s.layers for s in spec.stages)
        index, in_ch = 0, spec.stem
        self.stage_names = [STEM]
        for number, stage in enumerate(spec.stages, start=1):
            blocks = []
            for i in range(stage.layers):
                # Stochastic depth grows linearly with depth (rate * block index / block count).
                rate = drop_path_rate * index / total
                block = BLOCK_TYPES[stage.operator](
                    in_ch, stage.channels, stage, stage.stride if i == 0 else 1, rate, padding, bn_eps, act
                )
                blocks.append(block)
                in_ch, index = stage.channels, index + 1
            self.add_module(stage_name(number), nn.Sequential(*blocks))
            self.stage_names.append(stage_name(number))
        dropout = spec.arch.dropout if drop_rate is None else drop_rate
        self.head = Head(in_ch, spec.head, num_classes, dropout, bn_eps, act)
        self.stage_names.append(HEAD)
        self._init_weights()

    @property
    def arch(self) -> Arch:
        return self.spec.arch

    @property
    def blocks(self) -> str:
        return self.spec.blocks

    def stages(self) -> list[tuple[str, nn.Module]]:
        """(name, module) for the stem, every stage and the head, in forward order."""
        return [(name, getattr(self, name)) for name in self.stage_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, module in self.stages():
            x = module(x)
        return x

    def forward_stages(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Every stage's output by name (the head's is the logits)."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, module in self.stages():
            x = out[name] = module(x)
        return out

    def _init_weights(self) -> None:
        """The official initialisers: fan-out normal for convs, uniform for the classifier."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.out_features**0.5
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)


def create_model(
    name: str,
    *,
    blocks: str | None = None,
    num_classes: int = 1000,
    weights: StateDict | str | PathLike[str] | None = None,
    width_mult: float = 1.0,
    **options: Any,
) -> EfficientNet:
    """Build a registered architecture, optionally with other F/M ``blocks`` and loaded ``weights``.

    Options: ``padding`` ("same" = TF, the default, or "symmetric" = PyTorch), ``bn_eps`` (1e-3 as in TF;
    PyTorch's default is 1e-5), ``drop_rate`` (classifier dropout; default per architecture) and
    ``drop_path_rate`` (stochastic depth, 0.2). Dropout and stochastic depth act only in training.
    """
    arch = get_arch(name)
    if width_mult != 1.0:
        arch = replace(arch, width=arch.width * width_mult)
    spec = arch.scaled(blocks)
    if weights is None:
        return EfficientNet(spec, num_classes, **options)
    from .weights import load_weights, read_safetensors

    if isinstance(weights, (str, PathLike)):
        # A file gives fresh tensors: build on the meta device and adopt them, skipping a wasted random init.
        state = read_safetensors(weights)
        with torch.device("meta"):
            model = EfficientNet(spec, num_classes, **options)
        return load_weights(model, state, assign=True)
    return load_weights(EfficientNet(spec, num_classes, **options), weights)


def _seed(name: str):
    def build(num_classes: int = 1000, width_mult: float = 1.0, **options: Any) -> EfficientNet:
        return create_model(name, num_classes=num_classes, width_mult=width_mult, **options)

    size = name.rsplit("_", 1)[1].upper()
    build.__name__ = build.__qualname__ = f"effnetv2_{size.lower()}"
    build.__doc__ = (
        f"EfficientNetV2-{size} as published (drop-in for the d-li14 ``effnetv2_{size.lower()}``, "
        "but the official architecture, so the Hub weights load)."
    )
    return build


effnetv2_s = _seed("efficientnetv2_s")
effnetv2_m = _seed("efficientnetv2_m")
effnetv2_l = _seed("efficientnetv2_l")
effnetv2_xl = _seed("efficientnetv2_xl")
