"""Eval preprocessing of a checkpoint: the exact resize, crop and normalization its accuracy was measured with.

The steps and their order are timm's eval transform (torchvision ops on PIL images), so the tensors are
equal to timm's, not merely close; :meth:`EvalTransform.crop` exposes the image the model actually sees,
which is what a Grad-CAM map must be drawn on.

One exception keeps memory bounded: when the resized image would exceed :data:`MAX_RESIZED_PIXELS` (a thin
strip, whose short side is scaled up to 256 px, or a large crop of a wide panorama), only the window that the
center crop keeps is resized (PIL's ``resize(box=...)``, same filter, same source pixels), and its pixels may
differ from timm's by 1-2 levels of 255. A 1000x1 strip at 256 px is then a 224x224 resize, not 196 MB.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.functional import _compute_resized_output_size

from .checkpoints import Preprocess

MAX_RESIZED_PIXELS = 4_000_000
"""The largest image the resize step may allocate (12 MB in RGB); beyond it only the kept window is resized."""


def _interpolation(name: str) -> InterpolationMode:
    try:
        return InterpolationMode(name)
    except ValueError:
        known = ", ".join(m.value for m in InterpolationMode)
        raise ValueError(f"unknown interpolation {name!r}; known: {known}") from None


class EvalTransform:
    """PIL image -> (3, size, size) float32 tensor, normalized, for one :class:`Preprocess` setting."""

    def __init__(self, cfg: Preprocess):
        self.cfg = cfg
        self._mode = _interpolation(cfg.interpolation)
        self._mean = torch.tensor(cfg.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(cfg.std, dtype=torch.float32).view(-1, 1, 1)

    @property
    def size(self) -> int:
        return self.cfg.size

    def crop(self, image: Image.Image) -> Image.Image:
        """The resized and center-cropped RGB image: exactly the pixels the model sees."""
        from .images import to_rgb

        image = to_rgb(image)
        scale, size = self.cfg.scale_size, self.cfg.size
        # center: the shorter side becomes `scale` (aspect kept); squash: both sides do (aspect lost, nothing cut).
        target = [scale] if self.cfg.crop_mode == "center" else [scale, scale]
        new_h, new_w = _compute_resized_output_size((image.height, image.width), target)  # before allocating
        if new_h * new_w > MAX_RESIZED_PIXELS and min(new_h, new_w) >= size:
            return self._window(image, new_w, new_h)
        resized = TF.resize(image, target, interpolation=self._mode)
        return TF.center_crop(resized, [size, size])

    def _window(self, image: Image.Image, new_w: int, new_h: int) -> Image.Image:
        """The center crop of the ``new_w`` x ``new_h`` resize, made by resizing only its source window."""
        size = self.cfg.size
        top, left = round((new_h - size) / 2.0), round((new_w - size) / 2.0)  # as TF.center_crop places it
        sx, sy = image.width / new_w, image.height / new_h
        box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
        return image.resize((size, size), TF.pil_modes_mapping[self._mode], box=box)

    def to_tensor(self, crop: Image.Image) -> torch.Tensor:
        """A crop from :meth:`crop` -> normalized tensor (float in [0, 1], then (x - mean) / std).

        The arithmetic of torchvision's ``to_tensor`` + ``normalize``, so the values are equal, done in place
        and with the channel transpose on floats: faster, and every request pays it (docs/performance.md).
        """
        pixels = torch.from_numpy(np.array(crop, dtype=np.uint8))  # (H, W, 3), a writable copy
        x = pixels.permute(2, 0, 1).float().contiguous()
        return x.div_(255).sub_(self._mean).div_(self._std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.to_tensor(self.crop(image))

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(N, 3, size, size); an empty sequence is an error, not an empty batch."""
        if len(images) == 0:
            raise ValueError("no images to transform")
        return torch.stack([self(im) for im in images])

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"EvalTransform(size={c.size}, resize={c.scale_size} ({c.crop_mode}, {c.interpolation}), "
            f"crop_pct={c.crop_pct}, mean={c.mean}, std={c.std})"
        )
