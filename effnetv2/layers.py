"""Building layers: convolution with TF "SAME" or symmetric padding, conv+BN+act, SE, stochastic depth."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PADDING_MODES = ("same", "symmetric")
ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu6": nn.ReLU6}
"""The architectures' activations by name (``Arch.act``): SiLU in V1/V2, ReLU6 in Lite."""


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding for one dimension: (before, after), the odd pixel going after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """A strided conv padded like TF's "SAME" from the runtime input size (the official checkpoints need it).

    For k3 s2 on an even size that is (0, 1), where PyTorch's symmetric padding gives (1, 1).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1, bias: bool = False):
        super().__init__(in_ch, out_ch, kernel, stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return self._conv_forward(x, self.weight, self.bias)


def make_conv(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, *, groups: int = 1, padding: str = "same", bias: bool = False
) -> nn.Conv2d:
    """Strided convs get dynamic TF padding in "same" mode; everything else is symmetric (identical there)."""
    if padding == "same" and stride > 1:
        return Conv2dSame(in_ch, out_ch, kernel, stride, groups=groups, bias=bias)
    return nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=bias)


class ConvBNAct(nn.Module):
    """conv -> BatchNorm -> activation (``act``: "silu", "relu6", or None for the linear 1x1 projections)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 1,
        stride: int = 1,
        *,
        groups: int = 1,
        act: str | None = "silu",
        padding: str = "same",
        bn_eps: float = 1e-3,
    ):
        super().__init__()
        self.conv = make_conv(in_ch, out_ch, kernel, stride, groups=groups, padding=padding)
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps)
        # Never in place: Grad-CAM and timing hooks keep these outputs.
        self.act = ACTIVATIONS[act]() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global mean -> 1x1 reduce -> SiLU -> 1x1 expand -> sigmoid gate."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.SiLU()
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class StochasticDepth(nn.Module):
    """Drops the residual branch per sample while training (survival probability 1 - rate)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"
