"""The two operators of the paper's Figure 2: MBConv and Fused-MBConv.

MBConv: 1x1 expand -> depthwise kxk (stride) -> SE -> 1x1 project. With expansion 1 the expand conv is
dropped (V1's depthwise-separable first stage). Fused-MBConv: kxk expand (stride) -> 1x1 project; with
expansion 1 it is a single kxk conv (V2's first stage). Both add the input back (through stochastic depth)
when stride is 1 and channels are unchanged. ``act`` names the activation (SiLU; ReLU6 in Lite).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import Stage
from .layers import ConvBNAct, SqueezeExcite, StochasticDepth


def _residual(x: torch.Tensor, y: torch.Tensor, drop: StochasticDepth | None) -> torch.Tensor:
    return y if drop is None else x + drop(y)


class MBConv(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stage: Stage,
        stride: int,
        drop_path: float,
        padding: str,
        bn_eps: float,
        act: str = "silu",
    ):
        super().__init__()
        mid = in_ch * stage.expand
        k = stage.kernel
        self.expand = ConvBNAct(in_ch, mid, 1, act=act, bn_eps=bn_eps) if stage.expand != 1 else None
        self.depthwise = ConvBNAct(mid, mid, k, stride, groups=mid, act=act, padding=padding, bn_eps=bn_eps)
        # SE width comes from the block *input* (TF's rule), rounded as the official code does.
        self.se = SqueezeExcite(mid, round(mid * (stage.se / stage.expand))) if stage.se else None
        self.project = ConvBNAct(mid, out_ch, 1, act=None, bn_eps=bn_eps)
        self.drop_path = StochasticDepth(drop_path) if stride == 1 and in_ch == out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        return _residual(x, self.project(y), self.drop_path)


class FusedMBConv(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stage: Stage,
        stride: int,
        drop_path: float,
        padding: str,
        bn_eps: float,
        act: str = "silu",
    ):
        super().__init__()
        k = stage.kernel
        if stage.expand == 1:  # a single conv: the paper's "Conv3x3" / Fused-MBConv1
            self.expand = ConvBNAct(in_ch, out_ch, k, stride, act=act, padding=padding, bn_eps=bn_eps)
            self.project = None
        else:
            mid = in_ch * stage.expand
            self.expand = ConvBNAct(in_ch, mid, k, stride, act=act, padding=padding, bn_eps=bn_eps)
            self.project = ConvBNAct(mid, out_ch, 1, act=None, bn_eps=bn_eps)
        self.drop_path = StochasticDepth(drop_path) if stride == 1 and in_ch == out_ch else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x)
        if self.project is not None:
            y = self.project(y)
        return _residual(x, y, self.drop_path)


BLOCK_TYPES: dict[str, type[nn.Module]] = {"MBConv": MBConv, "Fused-MBConv": FusedMBConv}
