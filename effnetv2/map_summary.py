"""Where a saliency map is strongest and how concentrated it is, measured on the map: what its alt text says.

A screen reader cannot see a heat map; a sentence such as "strongest in the lower centre, 18% of the image above
half its peak" says the two things a sighted visitor reads off it. Both come from the map itself: the region
holding its peak (a 3 x 3 grid of the image: upper / centre / lower by left / centre / right) and the share of
pixels at or above half the peak (small = one concentrated spot, large = spread over the image). The sentence is
made in the page's language by ``effnetv2.backend.alt_text``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 3
"""Regions per side: thirds of the image's height and width."""
ROWS = ("upper", "centre", "lower")
COLUMNS = ("left", "centre", "right")


@dataclass(frozen=True)
class MapSummary:
    """Where a map peaks (``row``, ``column``: 0-2, top to bottom and left to right) and ``share``, the fraction of
    its pixels at or above half the peak; ``empty`` when nothing is positive (a map with no evidence to place)."""

    row: int
    column: int
    share: float
    empty: bool = False

    @property
    def region(self) -> str:
        """The region's key, e.g. ``lower_centre``; ``centre`` for the middle third of both."""
        if (self.row, self.column) == (1, 1):
            return "centre"
        return f"{ROWS[self.row]}_{COLUMNS[self.column]}"


def summarize(saliency: np.ndarray) -> MapSummary:
    """The :class:`MapSummary` of a 2-D map (larger = more evidence; negative and non-finite values count as 0)."""
    m = np.nan_to_num(np.asarray(saliency, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"a saliency map is 2-D and not empty, got shape {m.shape}")
    m = np.clip(m, 0.0, None)
    peak = float(m.max())
    if peak <= 0.0:
        return MapSummary(1, 1, 0.0, empty=True)
    y, x = np.unravel_index(int(np.argmax(m)), m.shape)
    h, w = m.shape
    share = float(np.count_nonzero(m >= peak / 2)) / m.size
    return MapSummary(min(GRID * int(y) // h, GRID - 1), min(GRID * int(x) // w, GRID - 1), share)
