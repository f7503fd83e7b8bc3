"""Hand-built networks for tests with a known answer: the interface of ``EfficientNet`` that the explanation
code uses (``stage_names``, ``stages()``, ``num_classes``), and nothing else."""

from __future__ import annotations

import torch
from torch import nn


class StagedNet(nn.Module):
    """A network whose parts are attributes named in ``stage_names`` and run in that order."""

    stage_names: list[str]
    num_classes: int

    def stages(self) -> list[tuple[str, nn.Module]]:
        return [(n, getattr(self, n)) for n in self.stage_names]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _, m in self.stages():
            x = m(x)
        return x
