"""MBConv and Fused-MBConv block diagrams (the paper's Figure 2), drawn from a model's own stage table.

The layer list is read from a real block, built on the meta device by the same classes
(:mod:`effnetv2.blocks`) and the same scaled stage table the model builder uses, so the diagram shows the
channels, kernel, expansion and SE of the chosen stage rather than a generic picture, and cannot drift from
the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import plotly.graph_objects as go
import torch
from torch import nn

from ..blocks import BLOCK_TYPES
from ..config import Stage, get_arch
from ..layers import ConvBNAct, SqueezeExcite
from ..names import stage_name

Kind = Literal["input", "conv", "depthwise", "se", "project", "add", "output"]

COLORS: dict[str, str] = {
    "input": "#e5e7eb",
    "conv": "#fdba74",  # a regular (dense) convolution: the "fused" part
    "depthwise": "#93c5fd",
    "se": "#c4b5fd",
    "project": "#86efac",
    "add": "#f9fafb",
    "output": "#e5e7eb",
}


@dataclass(frozen=True)
class Layer:
    """One box of a block diagram: what it is, and the channels going in and out."""

    kind: Kind
    label: str
    in_ch: int
    out_ch: int


@dataclass(frozen=True)
class Block:
    """One block of a stage as drawn: its layers, stride and whether the input is added back."""

    stage_name: str
    stage: Stage
    in_ch: int
    stride: int
    layers: tuple[Layer, ...]

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_ch == self.stage.channels

    @property
    def title(self) -> str:
        s = self.stage
        return (
            f"{self.stage_name}: {s.label} — {self.in_ch}→{s.channels} ch, stride {self.stride}"
            f"{', residual' if self.residual else ''}"
        )


def _arrow(fig: go.Figure, start: tuple[float, float], end: tuple[float, float], color: str, width: float = 1.0):
    """An arrow in data coordinates (plotly draws arrows as annotations with no text)."""
    fig.add_annotation(
        x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y", axref="x", ayref="y",
        showarrow=True, arrowhead=2, arrowwidth=width, arrowcolor=color, text="",
    )  # fmt: skip


def _conv_layer(block: nn.Module, name: str, m: ConvBNAct) -> Layer:
    conv = m.conv
    k, stride, cin, cout = conv.kernel_size[0], conv.stride[0], conv.in_channels, conv.out_channels
    act = "" if isinstance(m.act, nn.Identity) else f", {type(m.act).__name__}"  # SiLU, ReLU6
    if conv.groups > 1 and conv.groups == cin:
        return Layer("depthwise", f"Depthwise Conv{k}x{k}, stride {stride}, BN{act}", cin, cout)
    if name == "project":
        return Layer("project", "Conv1x1 project, BN", cin, cout)
    expanding = getattr(block, "project", None) is not None
    what = f"Conv{k}x{k} expand ×{cout // cin}" if expanding else f"Conv{k}x{k}"
    where = f", stride {stride}" if k > 1 else ""
    return Layer("conv", f"{what}{where}, BN{act}", cin, cout)


def block_layers(stage: Stage, in_ch: int, stride: int, act: str = "silu") -> tuple[Layer, ...]:
    """The layers of one block, in forward order, read from the block that :mod:`effnetv2.blocks` builds
    (``act``: the architecture's activation, ``Arch.act``)."""
    with torch.device("meta"):
        block = BLOCK_TYPES[stage.operator](in_ch, stage.channels, stage, stride, 0.0, "same", 1e-3, act)
    layers: list[Layer] = [Layer("input", f"input {in_ch} ch", in_ch, in_ch)]
    for name, child in block.named_children():  # registration order is forward order
        if isinstance(child, ConvBNAct):
            layers.append(_conv_layer(block, name, child))
        elif isinstance(child, SqueezeExcite):
            mid, width = child.reduce.in_channels, child.reduce.out_channels
            layers.append(Layer("se", f"SE {stage.se:g}: pool, 1x1 →{width}, SiLU, 1x1 →{mid}, sigmoid, ×", mid, mid))
    out = stage.channels
    if getattr(block, "drop_path", None) is not None:  # the residual: built exactly when the shapes allow it
        layers.append(Layer("add", "+ input (stochastic depth in training)", out, out))
    layers.append(Layer("output", f"output {out} ch", out, out))
    return tuple(layers)


def stage_block(model: str, stage_number: int, blocks: str | None = None, *, first: bool = False) -> Block:
    """A block of ``stage_number`` (1-based) of a registered model with optional F/M ``blocks``.

    By default the repeated block (stride 1, with the residual) when the stage has more than one layer,
    else the first block; ``first=True`` always draws the first one (the one with the stage's stride).
    """
    spec = get_arch(model).scaled(blocks)
    n = len(spec.stages)
    if not 1 <= int(stage_number) <= n:
        raise ValueError(f"{spec.arch.name} has stages 1-{n}, got {stage_number}")
    i = int(stage_number) - 1
    stage = spec.stages[i]
    prev = spec.stem if i == 0 else spec.stages[i - 1].channels
    if first or stage.layers == 1:
        in_ch, stride = prev, stage.stride
    else:
        in_ch, stride = stage.channels, 1
    return Block(stage_name(i + 1), stage, in_ch, stride, block_layers(stage, in_ch, stride, spec.arch.act))


def block_figure(block: Block, *, height: int = 460) -> go.Figure:
    """A top-to-bottom plotly drawing of one block: boxes, arrows, and the residual path when there is one."""
    fig = go.Figure()
    n = len(block.layers)
    gap = 1.0
    box_h = 0.62
    for j, layer in enumerate(block.layers):
        y = (n - 1 - j) * gap
        x0, x1 = (0.15, 0.85) if layer.kind not in ("add",) else (0.42, 0.58)
        shape = "circle" if layer.kind == "add" else "rect"
        fig.add_shape(
            type=shape,
            x0=x0,
            x1=x1,
            y0=y - box_h / 2,
            y1=y + box_h / 2,
            line={"color": "#374151", "width": 1},
            fillcolor=COLORS[layer.kind],
            layer="below",
        )
        text = "+" if layer.kind == "add" else layer.label
        if layer.kind in ("conv", "depthwise", "project", "se") and layer.in_ch != layer.out_ch:
            text += f"<br><span style='font-size:11px'>{layer.in_ch} → {layer.out_ch} ch</span>"
        elif layer.kind in ("depthwise", "se"):
            text += f"<br><span style='font-size:11px'>{layer.in_ch} ch</span>"
        fig.add_annotation(x=0.5, y=y, text=text, showarrow=False, font={"size": 12, "color": "#111827"})
        if j:
            _arrow(fig, (0.5, y + gap - box_h / 2), (0.5, y + box_h / 2), "#374151", width=1.2)
    if block.residual:
        top = (n - 1) * gap  # the input box
        add_y = 1 * gap  # the "+" node is second to last
        fig.add_shape(type="line", x0=0.85, x1=0.95, y0=top, y1=top, line={"color": "#dc2626", "dash": "dot"})
        fig.add_shape(type="line", x0=0.95, x1=0.95, y0=top, y1=add_y, line={"color": "#dc2626", "dash": "dot"})
        _arrow(fig, (0.95, add_y), (0.58, add_y), "#dc2626")
    fig.update_xaxes(visible=False, range=[0, 1])
    fig.update_yaxes(visible=False, range=[-0.6, (n - 1) * gap + 0.6])
    fig.update_layout(
        title={"text": block.title, "font": {"size": 13}},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=False,
    )
    return fig


def stage_diagram(model: str, stage_number: int, blocks: str | None = None) -> go.Figure:
    return block_figure(stage_block(model, stage_number, blocks))
