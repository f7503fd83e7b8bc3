"""What a torch request will cost, estimated before it runs, and a one-line refusal of what does not fit.

Why: every input of a request can be within its own bound while the combination is not. EfficientNet-B7 at
640 px, batch 16, 30 runs holds the single torch slot for about an hour on a 2-vCPU machine, and training it
at 448 px needs more memory than such a machine has. A crash or an hour-long wait tells the user nothing; an
estimate up front can say which value to choose instead.

The estimate (figures in docs/reliability.md, checked against measurements by ``bench/cost_model.py``):

- **memory**: the weights (x4 with training: the copy that trains, its gradients and momentum, beside the
  original), ``WORKSPACE_BYTES`` of scratch space, plus activations per image from a shape-only forward on
  the meta device: inference keeps a few tensors alive at a time (``INFERENCE_ACTIVATIONS`` x the largest
  layer output), training keeps every layer's output for the backward pass (``TRAINING_ACTIVATIONS`` x their
  sum);
- **time**: forward passes x the measured time of one forward of this model (once a request has measured it;
  scaled by the pixel count from the nearest measured size), else its multiply-adds over the device's MACs/s
  rate; a training step counts as three forwards.

The limits: memory from what the machine has free now (:func:`available_bytes`, ``MEMORY_FRACTION`` of it)
or ``EFFNETV2_MAX_REQUEST_MB``; time only where the caller gives one (the app: ``EFFNETV2_MAX_REQUEST_S``).
"""

from __future__ import annotations

import dataclasses
import functools
import resource
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import settings
from .bounds import MEMORY_FRACTION, Bound
from .errors import MemoryLimitError, TimeLimitError

MAX_REQUEST_MB: int | None = settings.MAX_REQUEST_MB.value()
"""Memory one request may use, in MB; None (the default): ``MEMORY_FRACTION`` of what is free when it starts."""
_RATE: float | None = settings.MACS_PER_S.value()
MACS_PER_S: dict[str, float] = {"cpu": _RATE or 5e9, "cuda": _RATE or 2e11, "mps": _RATE or 2e10}
"""Multiply-adds per second per device type, for time estimates of models not measured yet in this process.
CPU: 5e9, the low end measured on 2 vCPUs (EfficientNet-B7 at 448-640 px: 5-6.5e9; B0 and V2-S: 1.5e10-6e10)."""
INFERENCE_ACTIVATIONS = 6.0
"""Inference peak / the largest layer output: measured 4.7-5.1 on CPU (B0 at 320 px, V2-S at 384, batch 8;
bench/cost_model.py); small inputs sit higher, where ``WORKSPACE_BYTES`` covers them."""
TRAINING_ACTIVATIONS = 2.0
"""Training peak / the sum of every layer's output: measured 1.2-1.4 on CPU (bench/cost_model.py), counted
as 2 because an underestimate is not a clean error on Linux but the OOM killer (memory is overcommitted)."""
TRAINING_STEP_FORWARDS = 3.0
"""A training step (forward, backward, SGD) in forward passes: the backward pass costs about two."""
WORKSPACE_BYTES = 128 * 10**6
"""Per request beside weights and activations: oneDNN's primitive cache and scratch buffers, thread-local
arenas (an inference at batch 8 of V2-B0 at 224 px grew the peak by 124 MB, its activations are 77 MB)."""
BYTES_PER_VALUE = 4
"""fp32; reduced precision (autocast) keeps fp32 weights and is not counted as smaller."""
SIZE_STEP = 16
"""The image size slider's step: suggested sizes are multiples of it."""


@dataclass(frozen=True)
class Footprint:
    """One model at one image size, for one image: what the estimate needs, from a shape-only forward."""

    params: int
    activations: int
    """Every leaf module's output values, summed (what training keeps for the backward pass)."""
    largest: int
    """The largest single leaf output (what inference peaks at, with a few neighbours)."""
    macs: int
    image_size: int

    def at(self, image_size: int) -> Footprint:
        """The same model at another size: activations and MACs scale with the pixel count."""
        r = (image_size / self.image_size) ** 2
        return Footprint(
            self.params, round(self.activations * r), round(self.largest * r), round(self.macs * r), image_size
        )


@functools.lru_cache(maxsize=64)
def footprint(model: str, blocks: str | None, image_size: int) -> Footprint:
    """Shapes only (the meta device: no memory, no arithmetic), cached per model, blocks and size."""
    from torch.utils.flop_counter import FlopCounterMode

    from .model import create_model

    with torch.device("meta"):
        net = create_model(model, blocks=blocks).eval()
    sizes: list[int] = []
    leaves = [m for m in net.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(lambda _m, _a, out: sizes.append(out.numel())) for m in leaves]
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            net(torch.empty(1, 3, image_size, image_size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in net.parameters())
    return Footprint(params, sum(sizes), max(sizes), counter.get_total_flops() // 2, image_size)


@dataclass(frozen=True)
class Work:
    """What one torch request runs: ``configs`` (blocks, image size) one after another, each with ``warmup`` +
    ``runs`` inference passes at ``batch`` and, with ``train_batch``, ``train_steps`` training steps (warm-up
    included) at that batch."""

    model: str
    configs: tuple[tuple[str | None, int], ...]
    """(blocks letters, image size) per measured variant, in the order they run."""
    batch: int = 1
    """Images per inference pass."""
    runs: int = 1
    """Timed inference passes per config; ``warmup`` untimed ones come first."""
    warmup: int = 0

    train_batch: int = 0  # 0: no training
    train_steps: int = 0

    device: str = "cpu"
    """As ``str(torch.device)``: the key of measured forward times, and where free memory is looked up."""
    dtype: str = "fp32"

    @property
    def image_size(self) -> int:
        return max(size for _, size in self.configs)

    def with_cap(self, knob: str, value: int) -> Work:
        """This work with one setting lowered to ``value`` (image sizes are capped, the others replaced)."""
        if knob == "image size":
            return dataclasses.replace(self, configs=tuple((b, min(s, value)) for b, s in self.configs))
        if knob == "training":
            return dataclasses.replace(self, train_batch=0, train_steps=0)
        return dataclasses.replace(self, **{KNOBS[knob]: value})


KNOBS = {"batch": "batch", "runs": "runs", "train batch": "train_batch"}
"""Settings a suggestion may lower, by the name the user sees -> the field of :class:`Work` it sets."""

_measured: dict[tuple, dict[int, float]] = {}
"""(model, blocks, device, dtype) -> {image size: measured seconds per image of one forward}."""
_measured_lock = threading.Lock()


def _key(model: str, blocks: str | None, device: str, dtype: str) -> tuple:
    return (model, blocks or "", device, dtype)


def record_forward(
    model: str, blocks: str | None, size: int, device: str, dtype: str, seconds_per_image: float
) -> None:
    """Remember one measured forward time (per image) of this model and size: later estimates use it."""
    if seconds_per_image > 0:
        with _measured_lock:
            _measured.setdefault(_key(model, blocks, device, dtype), {})[size] = seconds_per_image


def forward_seconds(work: Work, blocks: str | None, fp: Footprint) -> float:
    """One forward of one image: measured at this size; else scaled by the pixel count from the nearest size
    measured for this model; else MACs / the device's rate (``EFFNETV2_MACS_PER_S``)."""
    with _measured_lock:
        seen = dict(_measured.get(_key(work.model, blocks, work.device, work.dtype), {}))
    if seen:
        nearest = min(seen, key=lambda s: abs(s - fp.image_size))
        return seen[nearest] * (fp.image_size / nearest) ** 2
    kind = torch.device(work.device).type
    return fp.macs / MACS_PER_S.get(kind, MACS_PER_S["cpu"])


_reference: dict[tuple[str, str | None], Footprint] = {}


def _footprint(model: str, blocks: str | None, size: int, exact: bool) -> Footprint:
    """Exact (a meta forward, cached) for the check; scaled from the first exact one for suggestions, which try
    many sizes (a meta forward of B7 takes about half a second)."""
    ref = _reference.get((model, blocks))
    if exact or ref is None:
        fp = footprint(model, blocks, size)
        _reference.setdefault((model, blocks), fp)
        return fp
    return ref.at(size)


@dataclass(frozen=True)
class Estimate:
    bytes: int
    seconds: float


def estimate(work: Work, exact: bool = True) -> Estimate:
    """Peak memory (the largest config: they run one after another) and total time of ``work``."""
    peak, seconds = 0, 0.0
    for blocks, size in work.configs:
        fp = _footprint(work.model, blocks, size, exact)
        weights = fp.params * BYTES_PER_VALUE
        inference = weights + work.batch * INFERENCE_ACTIVATIONS * fp.largest * BYTES_PER_VALUE
        training = 0.0
        if work.train_batch:
            training = 4 * weights + work.train_batch * TRAINING_ACTIVATIONS * fp.activations * BYTES_PER_VALUE
        peak = max(peak, int(inference) + WORKSPACE_BYTES, int(training) + WORKSPACE_BYTES)
        forwards = (work.warmup + work.runs) * work.batch + TRAINING_STEP_FORWARDS * work.train_steps * work.train_batch
        seconds += forward_seconds(work, blocks, fp) * forwards
    return Estimate(peak, seconds)


# --- the machine's limits ------------------------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_headroom() -> int | None:
    """The memory cgroup's limit minus its use (v2, then v1); None without a limit."""
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit) as f:
                text = f.read().strip()
            if text == "max" or int(text) >= 1 << 60:
                return None
            with open(used) as f:
                return int(text) - int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None


def _address_space_headroom() -> int | None:
    """RLIMIT_AS minus the address space in use (a limit some hosts and tests set)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        return None
    return soft - vm


def available_bytes(device: str = "cpu") -> int:
    """Memory a request may still take here: free GPU memory on CUDA; on the CPU the least of the free RAM, the
    cgroup's and the address-space limit's headroom."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    known = [v for v in (_meminfo_available(), _cgroup_headroom(), _address_space_headroom()) if v is not None]
    return max(min(known), 0) if known else 1 << 62


@dataclass(frozen=True)
class Budget:
    """What one request may use: memory (bytes) and, where the caller bounds it, time (seconds)."""

    bytes: int
    seconds: float | None = None
    memory_source: str = ""
    time_source: str = ""

    @classmethod
    def here(cls, device: str = "cpu", seconds: float | None = None, time_source: str = "") -> Budget:
        """``EFFNETV2_MAX_REQUEST_MB`` if set, else ``MEMORY_FRACTION`` of what is free now."""
        if MAX_REQUEST_MB is not None:
            return cls(MAX_REQUEST_MB * 10**6, seconds, settings.MAX_REQUEST_MB.name, time_source)
        free = available_bytes(device)
        return cls(int(MEMORY_FRACTION * free), seconds, f"{MEMORY_FRACTION:.0%} of the free memory", time_source)


# --- the check and its one line ------------------------------------------------------------------------------


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _source(name: str) -> str:
    return f" ({name})" if name else ""


def _fits(work: Work, budget: Budget) -> bool:
    e = estimate(work, exact=False)
    return e.bytes <= budget.bytes and (budget.seconds is None or e.seconds <= budget.seconds)


def _current(work: Work, knob: str) -> int:
    return work.image_size if knob == "image size" else getattr(work, KNOBS[knob])


def _largest(work: Work, budget: Budget, knob: str, bound: Bound) -> int | None:
    """The largest value of ``knob`` below the current one at which ``work`` fits (binary search), or None."""
    current = _current(work, knob)
    values = [v for v in range(bound.low, current) if knob != "image size" or v % SIZE_STEP == 0 or v == bound.low]
    if not values or not _fits(work.with_cap(knob, values[0]), budget):
        return None
    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(work.with_cap(knob, values[mid]), budget):
            lo = mid
        else:
            hi = mid - 1
    return values[lo]


def suggest(work: Work, budget: Budget, knobs: Sequence[tuple[str, Bound]], training_optional: bool = False) -> str:
    """What to choose instead: ``knobs`` lowered in order, each as little as needed ("choose runs <= 3",
    "choose batch 1 and image size <= 448"), or training turned off where that is allowed and enough."""
    if training_optional and work.train_batch and _fits(work.with_cap("training", 0), budget):
        size = _largest(work, budget, "image size", dict(knobs)["image size"]) if "image size" in dict(knobs) else None
        return "turn training off" + (f" or choose image size <= {size}" if size else "")
    changes: list[str] = []
    for knob, bound in knobs:
        best = _largest(work, budget, knob, bound)
        if best is not None:
            return "choose " + " and ".join([*changes, f"{knob} <= {best}"])
        if _current(work, knob) > bound.low:
            work = work.with_cap(knob, bound.low)
            changes.append(f"{knob} {bound.low}")
    return "choose a smaller model"


def check(
    work: Work,
    budget: Budget,
    *,
    what: str,
    memory_knobs: Sequence[tuple[str, Bound]] = (),
    time_knobs: Sequence[tuple[str, Bound]] = (),
    training_optional: bool = False,
) -> Estimate:
    """Refuse ``work`` when its estimate exceeds ``budget``, in one line naming the bound and what to choose.

    Raises :class:`MemoryLimitError` or :class:`TimeLimitError`; returns the estimate when it fits.
    """
    e = estimate(work)
    at = f"at {work.image_size} px"
    # a suggestion fits both bounds: the knobs of the exceeded one first, then the other's
    memory_first = (*memory_knobs, *(k for k in time_knobs if k not in memory_knobs))
    time_first = (*time_knobs, *(k for k in memory_knobs if k not in time_knobs))
    if e.bytes > budget.bytes:
        fix = suggest(work, budget, memory_first, training_optional)
        need, allowed = _gb(e.bytes), _gb(budget.bytes)
        if need == allowed:  # just above the limit: show the difference
            need, allowed = f"{e.bytes / 1e9:.2f} GB", f"{budget.bytes / 1e9:.2f} GB"
        raise MemoryLimitError(
            f"{what} needs about {need} {at}, {allowed} allowed here{_source(budget.memory_source)}: {fix}"
        )
    if budget.seconds is not None and e.seconds > budget.seconds:
        fix = suggest(work, budget, time_first, training_optional)
        raise TimeLimitError(
            f"{what} would take about {e.seconds:.0f} s {at} on {work.device}, {budget.seconds:.0f} s allowed here"
            f"{_source(budget.time_source)}: {fix}"
        )
    return e


@dataclass(frozen=True)
class Policy:
    """How a front end bounds its requests: a time limit (or none) and the settings a refusal may suggest
    lowering, in the order to try them. The engine's default: memory only, its own bounds."""

    seconds: float | None = None
    time_source: str = ""
    memory_knobs: tuple[tuple[str, Bound], ...] = ()
    time_knobs: tuple[tuple[str, Bound], ...] = ()
    training_optional: bool = False
    """Whether "turn training off" is a choice the user has."""

    def check(self, work: Work, what: str) -> Estimate:
        """:func:`check` against this machine's budget now (``EFFNETV2_MAX_REQUEST_MB`` or the free memory)."""
        budget = Budget.here(work.device, self.seconds, self.time_source)
        return check(
            work,
            budget,
            what=what,
            memory_knobs=self.memory_knobs,
            time_knobs=self.time_knobs,
            training_optional=self.training_optional,
        )


__all__ = [
    "Budget",
    "Estimate",
    "Footprint",
    "Policy",
    "Work",
    "available_bytes",
    "check",
    "estimate",
    "footprint",
    "record_forward",
    "suggest",
]
