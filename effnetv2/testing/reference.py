"""timm reference models for tests and benchmarks: random init with realistic, perturbed BatchNorm statistics.

Random init alone leaves BN at mean 0 / var 1, where eps and padding barely show and logits explode;
running a few batches in training mode gives every BN its own statistics, as trained weights have.
"""

from __future__ import annotations

import torch
from torch import nn

V2_SIZES = ("b0", "b1", "b2", "b3", "s", "m", "l", "xl")


def calibrate_bn(model: nn.Module, size: int = 64, steps: int = 2, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(4, 3, size, size, generator=g))
    return model.eval()


def timm_model(name: str, seed: int = 0, calibration_size: int = 64, **kwargs) -> nn.Module:
    """A timm model (e.g. ``tf_efficientnetv2_s``) with random weights and calibrated BN, in eval mode.

    Calibrate at the size the model will see: statistics from small inputs let activations grow with the
    image, and at a checkpoint's eval size the logits reach thousands and the softmax saturates.
    """
    import timm

    torch.manual_seed(seed)
    return calibrate_bn(timm.create_model(name, **kwargs), size=calibration_size, seed=seed)


def reference_pair(size: str, image_size: int, device: str = "cpu", seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """timm's ``tf_efficientnetv2_<size>`` (random init, perturbed BN) and ours with the very same weights.

    BN statistics are calibrated at the benchmark's image size: calibrated at a small size (as the tests do)
    they do not fit a 384-px input, activations blow up in the deep stages, and fp32 itself then disagrees
    with fp64 by a fifth of the logit range, which would make any logit comparison meaningless.
    """
    import timm

    torch.manual_seed(seed)
    ref = calibrate_bn(timm.create_model(f"tf_efficientnetv2_{size}"), size=image_size, seed=seed)
    from effnetv2 import create_model

    ours = create_model(f"efficientnetv2_{size}", weights=ref.state_dict()).eval()
    return ref.to(device), ours.to(device)
