"""The sample photos in ``assets/``: the app's examples and the real images accuracy gates are judged on.

One home for where they live. A gate that decides a precision on Gaussian noise judges flat, tiny logits
that no user ever sends; the photos are what the Classify tab shows first.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .images import open_image
from .preprocess import EvalTransform

ASSETS = Path(__file__).resolve().parents[1] / "assets"
"""The repository's ``assets/`` folder (beside the package in a checkout, an editable install or a Space)."""


def photo_paths() -> list[Path]:
    """The sample photos (``assets/*.jpg``), sorted by name; an error if the folder is missing or empty."""
    paths = sorted(ASSETS.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no sample photos in {ASSETS}: run from a checkout of the repository")
    return paths


def photos(transform: EvalTransform) -> torch.Tensor:
    """Every sample photo preprocessed by ``transform``: a (N, 3, size, size) batch of real model inputs."""
    return transform.batch([open_image(p) for p in photo_paths()])
