"""The 1000 ImageNet-1k class names, offline.

torchvision ships them with its weight metadata (no download); they are in the class-index order of
every 1000-class ImageNet head, timm's included.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    from torchvision.models import EfficientNet_V2_S_Weights

    names = tuple(EfficientNet_V2_S_Weights.IMAGENET1K_V1.meta["categories"])
    if len(names) != 1000:  # a torchvision change would silently shift every label
        raise RuntimeError(f"expected 1000 ImageNet class names from torchvision, got {len(names)}")
    return names


def labels_for(num_classes: int) -> list[str]:
    """Class names for a head of ``num_classes`` outputs (ImageNet-1k names when it has 1000)."""
    if num_classes == 1000:
        return list(imagenet_labels())
    return [f"class {i}" for i in range(num_classes)]
