"""The app's limits, in one visible place: the engine's bounds narrowed for a small shared server.

Every numeric input of the app is bounded, so that no request holds the single torch queue for long on a
2-vCPU machine. The bounds come from :mod:`effnetv2.bounds` (which the engine and the CLI use) and are only
narrowed here; environment variables raise them on bigger hardware, never beyond the engine's.
"""

from __future__ import annotations

import os

from .. import bounds, costs
from ..measure import LATENCY_SCHEDULE


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment; a missing or malformed value gives ``default``."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _from_env(bound: bounds.Bound, env: str, high: int, default: int | None = None) -> bounds.Bound:
    """``bound`` with its high end from ``env`` (``high`` when unset), kept within the engine's bound; the default
    (``default``, else the bound's) moves down with a lower high end."""
    top = min(max(env_int(env, high), bound.low), bound.high)
    return bound.narrowed(high=top, default=min(bound.default if default is None else default, top))


TOPK = bounds.Bound("top-k", 1, 10, 5)
RUNS = _from_env(bounds.RUNS, "EFFNETV2_MAX_RUNS", 30, default=5)
LAB_ROUNDS = bounds.RUNS.renamed("rounds").narrowed(high=LATENCY_SCHEDULE.max_rounds,
                                                     default=LATENCY_SCHEDULE.max_rounds)  # fmt: skip
"""The Lab's most rounds: its comparisons stop once their intervals are tight or their time budget is spent
(:data:`effnetv2.measure.LATENCY_SCHEDULE`), so the cap is the schedule's, not the Latency tab's runs."""
BATCH = _from_env(bounds.BATCH, "EFFNETV2_MAX_BATCH", 16)
IMAGE_SIZE = _from_env(bounds.IMAGE_SIZE, "EFFNETV2_MAX_IMAGE_SIZE", 640)
TRAIN_BATCH = _from_env(bounds.TRAIN_BATCH, "EFFNETV2_MAX_TRAIN_BATCH", 8)
_TABLE3_HIGH = min(380, IMAGE_SIZE.high)
TABLE3_IMAGE_SIZE = IMAGE_SIZE.narrowed(low=min(64, _TABLE3_HIGH), high=_TABLE3_HIGH, default=min(128, _TABLE3_HIGH))
"""The walkthrough's Table 3 measurement: four B4 variants trained at this size (B4's own is 380), within a lower
``EFFNETV2_MAX_IMAGE_SIZE`` too."""
CLASS_INDEX = bounds.CLASS_INDEX
OPACITY = (0.0, 1.0)


def size_bytes(text: str | int) -> int:
    """A size as ``launch(max_file_size=...)`` takes it ("10mb", "100kb", 5000) in bytes (units of 1024)."""
    if isinstance(text, int):
        return text
    units = {"tb": 1024**4, "gb": 1024**3, "mb": 1024**2, "kb": 1024, "b": 1}
    value = text.strip().lower()
    for unit, factor in units.items():
        if value.endswith(unit) and value[: -len(unit)].strip().isdigit():
            return int(value[: -len(unit)]) * factor
    if value.isdigit():
        return int(value)
    raise ValueError(f"a size must look like 10mb, 500kb or 1000 (bytes), got {text!r}")


def env_size(name: str, default: str) -> str:
    """A size setting from the environment ("10mb", "500kb", "1000"); a missing or malformed one gives ``default``."""
    value = os.environ.get(name, default)
    try:
        size_bytes(value)
    except ValueError:
        return default
    return value


MAX_FILE_SIZE = env_size("EFFNETV2_MAX_FILE_SIZE", "10mb")
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
    time_knobs=(("image size", IMAGE_SIZE),),
    training_optional=True,
)
"""The Lab's comparisons: the training batch is fixed (``TRAIN_BATCH.default``), so a refusal suggests turning
training off or a smaller image, never a smaller training batch; nor fewer rounds, since the estimate counts
only the fewest rounds a comparison runs (its time budget bounds the rest, :mod:`effnetv2.measure`)."""
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

UPLOAD_BUDGET_MB = max(1, env_int("EFFNETV2_UPLOAD_BUDGET_MB", 500))
"""Disk the app's temporary folder (uploads, returned images) may use; beyond it the oldest files go first and new
uploads are refused until there is room (``effnetv2.backend.uploads``)."""
UPLOAD_MAX_AGE_S = max(1, env_int("EFFNETV2_UPLOAD_MAX_AGE_S", 3600))
"""Age after which an upload or a returned image is deleted: long enough to ask for Grad-CAM on a photo classified
an hour ago, short enough that a busy server does not keep a day's uploads."""
UPLOAD_TIMEOUT_S = max(1, env_int("EFFNETV2_UPLOAD_TIMEOUT_S", 120))
"""Time one upload may take to arrive; a client that stalls longer is cut off and its bytes are dropped."""

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
