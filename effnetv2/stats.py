"""Per-stage parameters and multiply-adds, computed on the meta device (no memory, no arithmetic).

MACs are multiply-accumulates, the papers' "FLOPs"; torch's FlopCounterMode counts 2 FLOPs per MAC.
Convolutions and the classifier are counted; BatchNorm, activations and SE gating are not (as in the papers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import Stage
from .model import EfficientNet, create_model
from .names import STEM, stage_name


@dataclass(frozen=True)
class StageStats:
    name: str
    block: str
    expand: int | None
    kernel: int
    stride: int
    channels: int
    layers: int
    se: float
    params: int
    macs: int


@dataclass(frozen=True)
class ModelStats:
    model: str
    blocks: str
    image_size: int | tuple[int, int]
    params: int
    macs: int
    stages: list[StageStats]

    def to_dict(self) -> dict:
        return asdict(self)


def _row(name: str, stage: Stage | None, model: EfficientNet, module: torch.nn.Module, macs: int) -> StageStats:
    params = sum(p.numel() for p in module.parameters())
    spec = model.spec
    if stage is not None:
        return StageStats(
            name,
            stage.label,
            stage.expand,
            stage.kernel,
            stage.stride,
            stage.channels,
            stage.layers,
            stage.se,
            params,
            macs,
        )
    if name == STEM:
        return StageStats(name, "Conv3x3", None, 3, 2, spec.stem, 1, 0.0, params, macs)
    return StageStats(name, "Conv1x1 & Pooling & FC", None, 1, 1, spec.head, 1, 0.0, params, macs)


def model_stats(model: EfficientNet, image_size: int | tuple[int, int] | None = None) -> ModelStats:
    """Count every stage of an existing model; its weights are not touched (a meta copy is traced)."""
    size = image_size or model.arch.image_size
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.empty(1, 3, h, w, device="meta")
    meta = model if next(model.parameters()).is_meta else _meta_twin(model)
    rows = []
    stages_by_name = {stage_name(i): s for i, s in enumerate(model.spec.stages, start=1)}
    with torch.no_grad():
        for name, module in meta.stages():
            counter = FlopCounterMode(display=False)
            with counter:
                x = module(x)
            rows.append(_row(name, stages_by_name.get(name), meta, module, counter.get_total_flops() // 2))
    return ModelStats(model.arch.name, model.blocks, size, sum(r.params for r in rows), sum(r.macs for r in rows), rows)


def _meta_twin(model: EfficientNet) -> EfficientNet:
    with torch.device("meta"):
        # eval: BatchNorm in training mode refuses a 1x1 map at batch 1 (any input of 32 px or less)
        return EfficientNet(model.spec, model.num_classes).eval()


def stats(
    name: str, blocks: str | None = None, image_size: int | tuple[int, int] | None = None, num_classes: int = 1000
) -> ModelStats:
    """Parameters and MACs per stage for any registered name, ``blocks`` string and image size."""
    with torch.device("meta"):
        model = create_model(name, blocks=blocks, num_classes=num_classes).eval()
    return model_stats(model, image_size)
