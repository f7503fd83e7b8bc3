"""Every numeric input's range, in one place: the engine's bounds, which the CLI and the app share.

A :class:`Bound` is an inclusive integer range with a default. The engine checks its inputs against the
bounds below; the app narrows some of them for a small shared server (``effnetv2.backend.limits``), and the
CLI's help texts quote them. Bad values raise :class:`~effnetv2.errors.BoundsError` with one line saying what
is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from .errors import BoundsError, describe, shorten


@dataclass(frozen=True)
class Bound:
    """An inclusive integer range with a default: what a slider shows, what the API and the CLI accept."""

    name: str
    low: int
    high: int
    default: int

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            raise ValueError(f"{self.name}: default {self.default} is outside {self.low}-{self.high}")

    @property
    def range(self) -> tuple[int, int]:
        return self.low, self.high

    def check(self, value: Any, *, strict: bool = False) -> int:
        """``value`` as an int inside the range, else BoundsError.

        Whole numbers in any form (3, 3.0, "3") pass; ``strict`` takes real numbers only (not strings, lists or
        booleans): the app's API parses JSON, where "64" is a mistake to point out, not a number to guess.
        """
        whole = f"{self.name} must be a whole number from {self.low} to {self.high}, got {shorten(value)}"
        if isinstance(value, bool) or (strict and not isinstance(value, numbers.Real)):
            raise BoundsError(whole)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise BoundsError(whole) from None
        if not math.isfinite(number) or number != int(number):
            raise BoundsError(whole)
        if not self.low <= number <= self.high:
            raise BoundsError(f"{self.name} must be from {self.low} to {self.high}, got {int(number)}")
        return int(number)

    def narrowed(self, *, low: int | None = None, high: int | None = None, default: int | None = None) -> Bound:
        """A tighter bound for one front end; it can never accept what this one refuses."""
        new = dataclasses.replace(
            self,
            low=self.low if low is None else low,
            high=self.high if high is None else high,
            default=self.default if default is None else default,
        )
        if new.low < self.low or new.high > self.high:
            raise ValueError(f"{self.name}: {new.low}-{new.high} is wider than {self.low}-{self.high}")
        return new

    def renamed(self, name: str) -> Bound:
        """The same range under another name (e.g. ``training batch``), for the messages."""
        return dataclasses.replace(self, name=name)


def flag(name: str, value: Any) -> bool:
    """A real boolean, else BoundsError: the string ``"false"`` is a mistake to point out, not a truthy value that
    quietly runs a training measurement."""
    if not isinstance(value, bool):
        raise BoundsError(f"{name} must be true or false, got {describe(value)}")
    return value


# The engine's bounds keep one measurement within minutes on a small machine.
IMAGE_SIZE = Bound("image size", 32, 1024, 224)
BATCH = Bound("batch", 1, 64, 1)
RUNS = Bound("runs", 1, 200, 20)
WARMUP = Bound("warmup", 0, 50, 3)
STEPS = Bound("steps", 1, 50, 5)
TRAIN_BATCH = BATCH.renamed("train batch").narrowed(default=4)
TRAIN_STEPS = STEPS.renamed("train steps")
CLASS_INDEX = Bound("class", -1, 999, -1)
"""A class of the 1000-class head; -1 means the top-1 class."""


# What one request may cost on this machine (effnetv2/costs.py estimates it before running; its settings:
# effnetv2/settings.py).
MEMORY_FRACTION = 0.8
"""The share of the free memory a request may take: the rest is headroom for the estimate's error."""

# Explanations (effnetv2.explain): each bound keeps one atlas cell within seconds on 2 cores.
IG_STEPS = Bound("IG steps", 2, 128, 16)
"""Points of the integrated-gradients path (captum's n_steps)."""
CURVE_STEPS = Bound("curve steps", 2, 64, 10)
"""Points of a deletion or insertion curve after the first (the fraction of cells changed goes 0, 1/n ... 1)."""
CELL = Bound("cell", 4, 64, 16)
"""Side in pixels of the square cells that deletion and insertion remove or reveal, and sanity checks compare."""
RANDOM_ORDERS = Bound("random orders", 1, 32, 3)
"""Random cell orders whose mean curve is the chance baseline of deletion and insertion."""
TOP_CHANNELS = Bound("channels", 1, 64, 16)
"""Feature maps shown for a stage: its most active channels."""

__all__ = [
    "BATCH",
    "CELL",
    "CLASS_INDEX",
    "CURVE_STEPS",
    "IG_STEPS",
    "IMAGE_SIZE",
    "MEMORY_FRACTION",
    "RANDOM_ORDERS",
    "RUNS",
    "STEPS",
    "TOP_CHANNELS",
    "TRAIN_BATCH",
    "TRAIN_STEPS",
    "WARMUP",
    "Bound",
    "flag",
]
