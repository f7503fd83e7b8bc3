"""The app's limits, in one visible place: the engine's bounds narrowed for a small shared server.

Every numeric input of the app is bounded, so that no request holds the single torch queue for long on a
2-vCPU machine. The bounds come from :mod:`effnetv2.bounds` (which the engine and the CLI use) and are only
narrowed here; environment variables raise them on bigger hardware, never beyond the engine's.
"""

from __future__ import annotations

import os

from .. import bounds


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment; a missing or malformed value gives ``default``."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _high(bound: bounds.Bound, env: str, default: int) -> int:
    return min(max(env_int(env, default), bound.low), bound.high)


TOPK = bounds.Bound("top-k", 1, 10, 5)
RUNS = bounds.RUNS.narrowed(high=_high(bounds.RUNS, "EFFNETV2_MAX_RUNS", 30), default=5)
BATCH = bounds.BATCH.narrowed(high=_high(bounds.BATCH, "EFFNETV2_MAX_BATCH", 16))
IMAGE_SIZE = bounds.IMAGE_SIZE.narrowed(high=_high(bounds.IMAGE_SIZE, "EFFNETV2_MAX_IMAGE_SIZE", 640))
TRAIN_BATCH = bounds.TRAIN_BATCH.narrowed(high=_high(bounds.TRAIN_BATCH, "EFFNETV2_MAX_TRAIN_BATCH", 8))
TABLE3_IMAGE_SIZE = IMAGE_SIZE.narrowed(low=64, high=380, default=128)
"""The walkthrough's Table 3 measurement: four B4 variants trained at this size (B4's own is 380)."""
CLASS_INDEX = bounds.CLASS_INDEX
OPACITY = (0.0, 1.0)

MAX_FILE_SIZE = os.environ.get("EFFNETV2_MAX_FILE_SIZE", "10mb")
"""Upload limit passed to ``launch(max_file_size=...)``."""
QUEUE_SIZE = env_int("EFFNETV2_QUEUE_SIZE", 32)
"""Requests waiting in the queue beyond which new ones are refused politely."""
SESSION_CAPACITY = env_int("EFFNETV2_SESSION_CAPACITY", 200)
"""Browser/API sessions whose state the server keeps (the oldest go first). Gradio keeps a copy of the app's
component config per session (a few hundred kB for this app), and every REST call without a session is a new
one: with Gradio's default of 10000 the memory of a busy server grows by gigabytes (docs/reliability.md)."""

# The Explain tab (effnetv2.backend.explain): the engine's bounds, narrowed so that an atlas stays within seconds.
CELL = bounds.CELL.narrowed(low=8, high=32)
CURVE_STEPS = bounds.CURVE_STEPS.narrowed(high=20)
IG_STEPS = bounds.IG_STEPS.narrowed(high=32)
SANITY_IG_STEPS = IG_STEPS.narrowed(default=4)
"""The sanity check recomputes every map once per randomized part (Lite0: 9 times): IG gets fewer steps."""
RANDOM_ORDERS = bounds.RANDOM_ORDERS.narrowed(high=4)
TOP_CHANNELS = bounds.TOP_CHANNELS.narrowed(high=32)
ATLAS_STAGES = 3
"""Stages in one atlas: with five methods, 15 maps and their curves."""
