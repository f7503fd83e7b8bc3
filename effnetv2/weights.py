"""Loading state dicts: timm's layout (the Hub checkpoints), EfficientNet-PyTorch's (the embedded Lite0) or this
package's own, always strictly.

Only safetensors files are read here: they hold tensors and nothing else, so loading never runs code. (The one
pickle this package reads, the embedded checkpoint, is verified and read by :mod:`effnetv2.embedded`.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from .errors import CorruptWeightsError, WeightsMismatchError
from .names import stage_name

StateDict = dict[str, torch.Tensor]

# timm block attribute -> ours, per timm block type (told apart by the parameters a block has).
_BLOCK_RENAMES: dict[str, dict[str, str]] = {
    "conv_bn_act": {"conv": "expand.conv", "bn1": "expand.bn"},  # Fused-MBConv, expansion 1
    "edge_residual": {
        "conv_exp": "expand.conv",
        "bn1": "expand.bn",
        "conv_pwl": "project.conv",
        "bn2": "project.bn",
    },  # Fused-MBConv
    "inverted_residual": {
        "conv_pw": "expand.conv",
        "bn1": "expand.bn",
        "conv_dw": "depthwise.conv",
        "bn2": "depthwise.bn",
        "se.conv_reduce": "se.reduce",
        "se.conv_expand": "se.expand",
        "conv_pwl": "project.conv",
        "bn3": "project.bn",
    },  # MBConv
    "depthwise_separable": {
        "conv_dw": "depthwise.conv",
        "bn1": "depthwise.bn",
        "se.conv_reduce": "se.reduce",
        "se.conv_expand": "se.expand",
        "conv_pw": "project.conv",
        "bn2": "project.bn",
    },  # MBConv, expansion 1
}
_TOP_RENAMES = {
    "conv_stem": "stem.conv",
    "bn1": "stem.bn",
    "conv_head": "head.conv.conv",
    "bn2": "head.conv.bn",
    "classifier": "head.classifier",
}
_BLOCK_KEY = re.compile(r"^blocks\.(\d+)\.(\d+)\.(.+)\.(\w+)$")
_TOP_KEY = re.compile(r"^([a-z_0-9]+)\.(\w+)$")

# EfficientNet-PyTorch (lukemelas/EfficientNet-PyTorch): blocks numbered flat (``_blocks.N``) across stages.
_EP_BLOCK_RENAMES = {
    "_expand_conv": "expand.conv",
    "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn",
    "_se_reduce": "se.reduce",
    "_se_expand": "se.expand",
    "_project_conv": "project.conv",
    "_bn2": "project.bn",
}
_EP_TOP_RENAMES = {
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv.conv",
    "_bn1": "head.conv.bn",
    "_fc": "head.classifier",
}
_EP_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def is_timm_layout(state_dict: StateDict) -> bool:
    return "conv_stem.weight" in state_dict


def _block_kind(attrs: set[str]) -> str:
    if "conv_exp" in attrs:
        return "edge_residual"
    if "conv_dw" in attrs:
        return "inverted_residual" if "conv_pwl" in attrs else "depthwise_separable"
    return "conv_bn_act"


def from_timm(state_dict: StateDict) -> StateDict:
    """Rename timm's ``tf_efficientnet*`` keys to this package's; keys it does not know pass unchanged."""
    attrs: dict[tuple[str, str], set[str]] = {}
    for key in state_dict:
        if m := _BLOCK_KEY.match(key):
            attrs.setdefault((m[1], m[2]), set()).add(m[3].split(".")[0])
    out: StateDict = {}
    for key, value in state_dict.items():
        if m := _BLOCK_KEY.match(key):
            renames = _BLOCK_RENAMES[_block_kind(attrs[(m[1], m[2])])]
            key = f"{stage_name(int(m[1]) + 1)}.{m[2]}.{renames.get(m[3], m[3])}.{m[4]}"
        elif (m := _TOP_KEY.match(key)) and m[1] in _TOP_RENAMES:
            key = f"{_TOP_RENAMES[m[1]]}.{m[2]}"
        out[key] = value
    return out


def is_efficientnet_pytorch_layout(state_dict: StateDict) -> bool:
    return "_conv_stem.weight" in state_dict


def from_efficientnet_pytorch(state_dict: StateDict, layers: Sequence[int]) -> StateDict:
    """Rename EfficientNet-PyTorch's keys to this package's; ``layers``: the target model's blocks per stage.

    That layout numbers blocks across the whole network (``_blocks.0`` ... ``_blocks.15`` in Lite0), so the
    stage of a block follows from the stage depths. Keys it does not know pass unchanged (and then fail the
    strict load by name).
    """
    where = [(stage, i) for stage, n in enumerate(layers, start=1) for i in range(n)]
    out: StateDict = {}
    for key, value in state_dict.items():
        if (m := _EP_BLOCK_KEY.match(key)) and int(m[1]) < len(where) and m[2] in _EP_BLOCK_RENAMES:
            stage, i = where[int(m[1])]
            key = f"stage{stage}.{i}.{_EP_BLOCK_RENAMES[m[2]]}.{m[3]}"
        elif (m := _TOP_KEY.match(key)) and m[1] in _EP_TOP_RENAMES:
            key = f"{_EP_TOP_RENAMES[m[1]]}.{m[2]}"
        out[key] = value
    return out


def read_safetensors(path: str | PathLike[str]) -> StateDict:
    """Read a .safetensors file; a missing, truncated or foreign file raises a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise CorruptWeightsError(f"{p.name}: only .safetensors weight files are read (pickles can run code)")
    if not p.is_file():
        raise CorruptWeightsError(f"{p}: no such weights file")
    try:
        return load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptWeightsError(
            f"{p.name} is not a readable safetensors file (truncated or corrupt?): {first}"
        ) from None


def load_weights(model: nn.Module, weights: StateDict | str | PathLike[str], *, assign: bool = False) -> nn.Module:
    """Load strictly, renaming timm's or EfficientNet-PyTorch's layout; a misfit says how many keys and shapes
    differ.

    ``assign=True`` adopts the given tensors instead of copying (for a model built on the meta device).
    """
    state = read_safetensors(weights) if isinstance(weights, (str, PathLike)) else dict(weights)
    if is_timm_layout(state):
        state = from_timm(state)
    elif is_efficientnet_pytorch_layout(state) and hasattr(model, "spec"):
        state = from_efficientnet_pytorch(state, [s.layers for s in model.spec.stages])
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", shapes)):
            if keys:
                parts.append(f"{len(keys)} {what} (e.g. {keys[0]})")
        raise WeightsMismatchError(
            f"weights do not fit {getattr(getattr(model, 'arch', None), 'name', type(model).__name__)}"
            f" ({len(own)} tensors expected): {'; '.join(parts)}"
        )
    model.load_state_dict(state, strict=True, assign=assign)
    return model
