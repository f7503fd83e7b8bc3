"""Top-k ImageNet predictions for one or more images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

from .devices import memory_guard
from .hub import Pretrained
from .images import open_image


@dataclass(frozen=True)
class Prediction:
    """One class of a top-k list: its index in the 1000-class head, its name and its softmax probability."""

    index: int
    label: str
    prob: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_topk(topk: int, num_classes: int) -> int:
    if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= num_classes:
        raise ValueError(f"topk must be a whole number from 1 to {num_classes}, got {topk!r}")
    return topk


def predict(
    pretrained: Pretrained,
    images: Sequence[Image.Image | str | Path | bytes],
    topk: int = 5,
) -> list[list[Prediction]]:
    """The ``topk`` most probable classes per image, most probable first.

    Images are read with :func:`open_image` (any mode, EXIF orientation) and preprocessed with the
    checkpoint's eval transform, in one batch; the softmax is taken in fp32 whatever the model's dtype.
    """
    num_classes = pretrained.checkpoint.num_classes
    check_topk(topk, num_classes)
    if isinstance(images, (str, Path, bytes, Image.Image)):
        images = [images]  # one image is a batch of one, not a sequence of characters
    if len(images) == 0:
        raise ValueError("no images to classify")
    batch = pretrained.transform.batch([open_image(im) for im in images])
    model = pretrained.model
    param = next(model.parameters())
    setting = f"{len(images)} images at {batch.shape[-1]} px on {param.device}"
    with memory_guard(setting), torch.inference_mode():
        logits = model(batch.to(device=param.device, dtype=param.dtype))
        probs = logits.float().softmax(dim=1)
        top = probs.topk(topk, dim=1)
    values, indices = top.values.cpu().tolist(), top.indices.cpu().tolist()
    labels = pretrained.labels
    return [
        [Prediction(i, labels[i], p) for i, p in zip(row_i, row_p, strict=True)]
        for row_i, row_p in zip(indices, values, strict=True)
    ]
