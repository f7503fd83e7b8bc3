"""The app's limits, in one visible place: the engine's bounds narrowed for a small shared server.

Every numeric input of the app is bounded, so that no request holds the single torch queue for long on a
2-vCPU machine. The bounds come from :mod:`effnetv2.bounds` (which the engine and the CLI use) and are only
narrowed here; ``EFFNETV2_*`` settings (:mod:`effnetv2.settings`, their one home: names, defaults, ranges) raise
them on bigger hardware, never beyond the engine's.
"""

from __future__ import annotations

from .. import bounds, costs, settings
from ..measure import LATENCY_SCHEDULE


def _from_env(bound: bounds.Bound, setting: settings.Setting, default: int | None = None) -> bounds.Bound:
    """``bound`` with its high end from ``setting`` (whose range lies within the engine's bound); the default
    (``default``, else the bound's) moves down with a lower high end."""
    top = setting.value()
    return bound.narrowed(high=top, default=min(bound.default if default is None else default, top))


TOPK = bounds.Bound("top-k", 1, 10, 5)
RUNS = _from_env(bounds.RUNS, settings.MAX_RUNS, default=5)
LAB_ROUNDS = bounds.RUNS.renamed("rounds").narrowed(high=LATENCY_SCHEDULE.max_rounds,
                                                     default=LATENCY_SCHEDULE.max_rounds)  # fmt: skip
"""The Lab's most rounds: its comparisons stop once their intervals are tight or their time budget is spent
(:data:`effnetv2.measure.LATENCY_SCHEDULE`), so the cap is the schedule's, not the Latency tab's runs."""
BATCH = _from_env(bounds.BATCH, settings.MAX_BATCH)
IMAGE_SIZE = _from_env(bounds.IMAGE_SIZE, settings.MAX_IMAGE_SIZE)
TRAIN_BATCH = _from_env(bounds.TRAIN_BATCH, settings.MAX_TRAIN_BATCH)
_TABLE3_HIGH = min(380, IMAGE_SIZE.high)
TABLE3_IMAGE_SIZE = IMAGE_SIZE.narrowed(low=min(64, _TABLE3_HIGH), high=_TABLE3_HIGH, default=min(128, _TABLE3_HIGH))
"""The walkthrough's Table 3 measurement: four B4 variants trained at this size (B4's own is 380), within a lower
``EFFNETV2_MAX_IMAGE_SIZE`` too."""
CLASS_INDEX = bounds.CLASS_INDEX
OPACITY = (0.0, 1.0)


MAX_FILE_SIZE: int = settings.MAX_FILE_SIZE.value()
"""Upload limit in bytes, passed to ``launch(max_file_size=...)`` and the upload gate: an int, which Gradio takes
as it is (its own parser of "10mb" rejects what ours accepts, such as "5000")."""
QUEUE_SIZE = settings.QUEUE_SIZE.value()
"""Requests waiting in the queue beyond which new ones are refused politely."""
SESSION_CAPACITY = settings.SESSION_CAPACITY.value()
"""Browser/API sessions whose state the server keeps (the oldest go first). Gradio keeps a copy of the app's
component config per session (a few hundred kB for this app), and every REST call without a session is a new
one: with Gradio's default of 10000 the memory of a busy server grows by gigabytes (docs/reliability.md)."""
MAX_REQUEST_S = settings.MAX_REQUEST_S.value()
"""Seconds one torch request may hold the single torch slot, by its estimate (effnetv2/costs.py): everyone
else waits behind it."""

_TIME = {"seconds": float(MAX_REQUEST_S), "time_source": settings.MAX_REQUEST_S.name}
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
MAX_REQUEST_BYTES_ENV = settings.MAX_REQUEST_BYTES.name
MAX_REQUEST_BYTES = settings.MAX_REQUEST_BYTES.value()
"""The largest request body (bytes) the app reads, uploads aside: a call's JSON is a few hundred bytes, and a
5 MB string in a text field is refused (HTTP 413) before anything parses it (``effnetv2.backend.routes``)."""

UPLOAD_BUDGET_MB = settings.UPLOAD_BUDGET_MB.value()
"""Disk the app's temporary folder (uploads, returned images) may use; beyond it the oldest files go first and new
uploads are refused until there is room (``effnetv2.backend.uploads``)."""
UPLOAD_MAX_AGE_S = settings.UPLOAD_MAX_AGE_S.value()
"""Age after which an upload or a returned image is deleted: long enough to ask for Grad-CAM on a photo classified
an hour ago, short enough that a busy server does not keep a day's uploads."""
UPLOAD_TIMEOUT_S = settings.UPLOAD_TIMEOUT_S.value()
"""Time one upload may take to arrive; a client that stalls longer is cut off and its bytes are dropped."""
BODY_TIMEOUT_S = settings.BODY_TIMEOUT_S.value()
"""Time the body of any other request may take to arrive (a call's JSON: a few hundred bytes); a client that
sends it a byte at a time is answered 408 and its connection closed (``effnetv2.backend.routes``)."""

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
