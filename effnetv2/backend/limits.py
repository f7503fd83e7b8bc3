"""The app's limits, in one visible place: the engine's bounds narrowed for a small shared server.

Every numeric input of the app is bounded, so that no request holds the single torch queue for long on a
2-vCPU machine. The bounds come from :mod:`effnetv2.bounds` (which the engine and the CLI use) and are only
narrowed here; environment variables raise them on bigger hardware, never beyond the engine's.
"""

from __future__ import annotations

import os

from .. import bounds, costs


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
MAX_REQUEST_S = max(env_int("EFFNETV2_MAX_REQUEST_S", 120), 1)
"""Seconds one torch request may hold the single torch slot, by its estimate (effnetv2/costs.py): everyone
else waits behind it."""

_TIME = {"seconds": float(MAX_REQUEST_S), "time_source": "EFFNETV2_MAX_REQUEST_S"}
LATENCY_POLICY = costs.Policy(
    **_TIME,
    memory_knobs=(("batch", BATCH), ("image size", IMAGE_SIZE)),
    time_knobs=(("runs", RUNS), ("batch", BATCH), ("image size", IMAGE_SIZE)),
)
"""The Latency tab's requests: memory and time estimated first; a refusal names the runs, batch or size to pick."""
COMPARE_POLICY = costs.Policy(
    **_TIME,
    memory_knobs=(("image size", IMAGE_SIZE), ("batch", BATCH)),
    time_knobs=(("runs", RUNS), ("image size", IMAGE_SIZE)),
    training_optional=True,
)
"""The Lab's comparisons: the training batch is fixed (``TRAIN_BATCH.default``), so a refusal suggests turning
training off, a smaller image or fewer runs, never a smaller training batch."""
TRAINING_POLICY = costs.Policy(
    **_TIME,
    memory_knobs=(("image size", TABLE3_IMAGE_SIZE),),
    time_knobs=(("image size", TABLE3_IMAGE_SIZE),),
)
"""The walkthrough's training measurements (Table 3, images/s against image size): only the size is chosen."""
MAX_REQUEST_BYTES_ENV = "EFFNETV2_MAX_REQUEST_BYTES"
MAX_REQUEST_BYTES = env_int(MAX_REQUEST_BYTES_ENV, 256 * 1024)
"""The largest request body (bytes) the app reads, uploads aside: a call's JSON is a few hundred bytes, and a
5 MB string in a text field is refused (HTTP 413) before anything parses it (``effnetv2.backend.routes``)."""
