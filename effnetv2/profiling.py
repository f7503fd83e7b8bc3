"""Per-stage latency inside the real forward pass, and training throughput (forward + backward images/s).

Each stage (``stem``, ``stage1`` ... ``stageN``, ``head``) is timed by a pre/post forward hook pair during
ordinary ``model(x)`` calls, so the stages are measured as they run together (caches, launches, allocator),
not one by one. An event is recorded in each hook: on CUDA a ``torch.cuda.Event`` (the GPU runs
asynchronously, so a wall clock would measure launches), read after one synchronize per run; on CPU a
``perf_counter`` reading. Both go through :class:`Clock`, which tests replace to run the CUDA code path on CPU.

Every run goes through the measurement core (:mod:`effnetv2.measure`): warm-up until steady, interleaved
rounds when several configurations are measured, a 95% interval for every median, the machine's noise and
the thread count used beside the result.

The sum of the stage medians is reported beside the end-to-end median; they must agree within
:data:`AGREEMENT` (hooks that miss work, or add much of their own, would show here).

The paper's speed claims (Tables 2 and 3) are about training, hence :func:`training_throughput`.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from . import cancel, costs
from .bounds import BATCH, IMAGE_SIZE, RUNS, STEPS, WARMUP, flag
from .config import get_arch
from .devices import Runtime, memory_guard, resolve
from .errors import BoundsError, StageError
from .measure import (
    AUTO,
    FASTER,
    SLOWER,
    TOTAL,
    TRAINING_SCHEDULE,
    Conditions,
    Difference,
    Interval,
    Schedule,
    Threads,
    Timings,
    difference,
    interleave,
    machine_noise,
    median_interval,
    parse_threads,
    threads_used,
)
from .model import EfficientNet, create_model
from .stats import model_stats

AGREEMENT = 0.10
"""Largest allowed relative gap between the sum of the stage medians and the end-to-end median."""

Progress = Callable[[float, str], None]
"""``progress(fraction, description)``: ``gr.Progress`` fits, and the CLI passes a stderr printer."""


def check_image_size(model: EfficientNet, image_size: int | None) -> int:
    """The model's own size when None, else a bounded one."""
    return IMAGE_SIZE.check(model.arch.image_size if image_size is None else image_size)


# --- clocks -------------------------------------------------------------------------------------------------


class Event(Protocol):
    def record(self) -> None: ...

    def elapsed_time(self, end: Event) -> float: ...


class WallEvent:
    """A ``torch.cuda.Event`` look-alike for the CPU: ``record`` reads ``perf_counter``; times in ms."""

    __slots__ = ("t",)

    def __init__(self) -> None:
        self.t: float | None = None

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: WallEvent) -> float:
        if self.t is None or end.t is None:
            raise RuntimeError("both events must be recorded before elapsed_time")
        return (end.t - self.t) * 1e3


@dataclass(frozen=True)
class Clock:
    """Makes events and waits for them once at the end; CUDA events on GPU, wall-clock events on CPU."""

    event: Callable[[], Event]
    synchronize: Callable[[], None]
    kind: str


def clock_for(runtime: Runtime) -> Clock:
    if runtime.is_cuda:
        return Clock(lambda: torch.cuda.Event(enable_timing=True), runtime.synchronize, "cuda-events")
    return Clock(WallEvent, runtime.synchronize, "perf_counter")


def sub_progress(progress: Progress | None, start: float, end: float, prefix: str = "") -> Progress | None:
    """A callback for one part of a longer job: its 0..1 maps onto ``start``..``end`` of ``progress``."""
    if progress is None:
        return None
    return lambda f, text: progress(start + (end - start) * f, f"{prefix}{text}")


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median and 10th/90th percentiles of a list of times in ms, and the median's 95% interval (``low_ms`` to
    ``high_ms``, bootstrap over runs: :func:`effnetv2.measure.median_interval`); the interval is what a chart
    draws, the percentiles say how much single runs vary."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    low_ms: float | None = None
    high_ms: float | None = None

    def __post_init__(self) -> None:
        if self.low_ms is None:
            object.__setattr__(self, "low_ms", self.median_ms)
        if self.high_ms is None:
            object.__setattr__(self, "high_ms", self.median_ms)

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Spread:
        if not samples_ms:
            raise ValueError("no samples")
        p10, median, p90 = np.percentile(np.asarray(samples_ms, dtype=np.float64), [10, 50, 90])
        iv = median_interval(samples_ms)
        return cls(float(median), float(p10), float(p90), iv.low, iv.high)


@dataclass(frozen=True)
class StageLatency:
    name: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    params: int
    macs: int
    low_ms: float | None = None
    """The median's 95% interval (None: a zero-width one, as for one run)."""
    high_ms: float | None = None

    def __post_init__(self) -> None:
        if self.low_ms is None:
            object.__setattr__(self, "low_ms", self.median_ms)
        if self.high_ms is None:
            object.__setattr__(self, "high_ms", self.median_ms)

    def to_dict(self) -> dict:
        """``{"name", "median_ms", "p10_ms", "p90_ms", "params", "macs", "low_ms", "high_ms"}``: every JSON's
        stage entry."""
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What every measurement carries so that a number is never read without its conditions."""

    model: str
    blocks: str
    device: str
    dtype: str
    threads: int
    channels_last: bool
    batch: int
    image_size: int
    clock: str

    @classmethod
    def of(cls, model: EfficientNet, runtime: Runtime, batch: int, image_size: int, clock: Clock) -> Context:
        return cls(
            model.arch.name,
            model.blocks,
            runtime.name,
            runtime.dtype,
            runtime.threads,
            runtime.channels_last,
            batch,
            image_size,
            clock.kind,
        )


@dataclass(frozen=True)
class Latency:
    """Per-stage and end-to-end inference latency of one model at one batch and image size."""

    context: Context
    runs: int
    warmup: int
    total: Spread
    stages: list[StageLatency]
    conditions: Conditions | None = None
    """The machine's noise and the threads used (None where a result was built by hand)."""
    sum_ratio: Interval | None = None
    """Per run, the stage sum / that run's end-to-end time: its median and 95% interval (None: by hand)."""
    stage_sum_ms: float = field(init=False)
    ratio: float = field(init=False)
    """The stage sum over the end-to-end time: the median of the per-run ratios where measured (a burst of
    another job lands in both parts of the same run), else the stage medians' sum over the end-to-end median."""
    agrees: bool = field(init=False)
    """Whether the stage sum is within :data:`AGREEMENT` of the end-to-end time: by the per-run ratios' interval
    where measured (disagreeing means the whole interval lies outside), else by ``ratio``."""

    def __post_init__(self) -> None:
        stage_sum = sum(s.median_ms for s in self.stages)
        ratio = stage_sum / self.total.median_ms if self.total.median_ms > 0 else math.inf
        low = high = ratio
        if self.sum_ratio is not None:
            ratio, low, high = self.sum_ratio.value, self.sum_ratio.low, self.sum_ratio.high
        object.__setattr__(self, "stage_sum_ms", stage_sum)
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "agrees", low <= 1.0 + AGREEMENT and high >= 1.0 - AGREEMENT)

    @property
    def total_ms(self) -> float:
        return self.total.median_ms

    @property
    def disagreement(self) -> str:
        """Empty when the stage sum agrees with the end-to-end time, else the control's one-line reason."""
        if self.agrees:
            return ""
        return (
            f"the stages of {self.context.blocks} add up to {100 * self.ratio:.0f}% of its end-to-end time "
            f"(allowed {100 * (1 - AGREEMENT):.0f}-{100 * (1 + AGREEMENT):.0f}%)"
        )

    def stage(self, name: str) -> StageLatency:
        for s in self.stages:
            if s.name == name:
                return s
        raise StageError(f"no stage {name!r}; stages are {', '.join(s.name for s in self.stages)}")

    def to_dict(self) -> dict:
        out = asdict(self.context)
        out.update(
            runs=self.runs,
            warmup=self.warmup,
            total_ms=self.total.median_ms,
            total_p10_ms=self.total.p10_ms,
            total_p90_ms=self.total.p90_ms,
            total_low_ms=self.total.low_ms,
            total_high_ms=self.total.high_ms,
            stage_sum_ms=self.stage_sum_ms,
            ratio=self.ratio,
            agrees=self.agrees,
            stages=[s.to_dict() for s in self.stages],
            conditions=None if self.conditions is None else self.conditions.to_dict(),
        )
        return out


@dataclass(frozen=True)
class Throughput:
    """Training speed: one step = forward + backward (+ SGD update) on a batch of random images."""

    context: Context
    steps: int
    warmup: int
    optimizer_step: bool
    step: Spread
    images_per_s: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "images_per_s", self.context.batch / (self.step.median_ms / 1e3))

    @property
    def images_per_s_interval(self) -> tuple[float, float]:
        """(low, high) images/s from the step time's 95% interval."""
        b = self.context.batch * 1e3
        return b / self.step.high_ms, b / self.step.low_ms

    def to_dict(self) -> dict:
        out = asdict(self.context)
        low, high = self.images_per_s_interval
        out.update(
            steps=self.steps,
            warmup=self.warmup,
            optimizer_step=self.optimizer_step,
            step_ms=self.step.median_ms,
            step_p10_ms=self.step.p10_ms,
            step_p90_ms=self.step.p90_ms,
            images_per_s=self.images_per_s,
            images_per_s_low=low,
            images_per_s_high=high,
        )
        return out


# --- measurement --------------------------------------------------------------------------------------------


def random_images(batch: int, image_size: int, runtime: Runtime) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)  # content does not change the speed; fixed for repeatability
    return runtime.input(torch.randn(batch, 3, image_size, image_size, generator=g))


class StageTimer:
    """One model's forward pass as a measurement subject (:mod:`effnetv2.measure`): each call runs ``model(x)``
    once and returns the ms of every stage and of the whole pass.

    A pre/post forward hook pair per stage records an event; the events of one call are made before it (so the
    hooks only record) and read after one synchronize. Use it as a context manager: it puts the model in eval
    mode on the runtime and removes its hooks and restores the training mode on exit.
    """

    def __init__(self, model: EfficientNet, x: torch.Tensor, runtime: Runtime, clock: Clock) -> None:
        self.model, self.x, self.runtime, self.clock = model, x, runtime, clock
        self.names = list(model.stage_names)
        self.current: dict[str, tuple[Event, Event]] = {}
        self.handles: list = []

    def __enter__(self) -> StageTimer:
        self.was_training = self.model.training
        self.runtime.prepare(self.model).eval()

        def pre(name: str):
            def hook(module, args):
                cancel.check()  # an abandoned job stops at the next stage, not only at the next run
                self.current[name][0].record()

            return hook

        def post(name: str):
            def hook(module, args, output):
                self.current[name][1].record()

            return hook

        for name, module in self.model.stages():
            self.handles.append(module.register_forward_pre_hook(pre(name)))
            self.handles.append(module.register_forward_hook(post(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.model.train(self.was_training)

    def __call__(self) -> dict[str, float]:
        marks = {key: (self.clock.event(), self.clock.event()) for key in [TOTAL, *self.names]}
        self.current = marks
        with torch.inference_mode(), self.runtime.autocast():
            marks[TOTAL][0].record()
            self.model(self.x)
            marks[TOTAL][1].record()
        self.clock.synchronize()
        return {key: a.elapsed_time(b) for key, (a, b) in marks.items()}


def latency_of(
    timings: Timings,
    subject: str,
    model: EfficientNet,
    runtime: Runtime,
    batch: int,
    image_size: int,
    clock: Clock,
    conditions: Conditions | None = None,
) -> Latency:
    """A :class:`Latency` from one subject's rounds of :func:`effnetv2.measure.interleave`."""
    counts = {s.name: s for s in model_stats(model, image_size).stages}
    total = Spread.of(timings.of(subject))
    per_image_s = total.median_ms / 1e3 / batch
    costs.record_forward(model.arch.name, model.blocks, image_size, str(runtime.device), runtime.dtype, per_image_s)
    stages = []
    for name in model.stage_names:
        s = Spread.of(timings.of(subject, name))
        c = counts[name]
        stages.append(StageLatency(name, s.median_ms, s.p10_ms, s.p90_ms, c.params, c.macs, s.low_ms, s.high_ms))
    context = Context.of(model, runtime, batch, image_size, clock)
    if conditions is not None and conditions.noise.threads is not None:  # the count used, since restored
        context = replace(context, threads=conditions.noise.threads.count)
    per_run = np.sum([timings.of(subject, n) for n in model.stage_names], axis=0) / np.asarray(timings.of(subject))
    sum_ratio = median_interval(per_run.tolist())
    return Latency(context, timings.rounds, timings.warmup[subject], total, stages, conditions, sum_ratio)


def stage_latency(
    model: EfficientNet,
    *,
    batch: int = 1,
    image_size: int | None = None,
    runs: int = 20,
    warmup: int = 3,
    runtime: Runtime | None = None,
    clock: Clock | None = None,
    threads: int | str | None = None,
    progress: Progress | None = None,
) -> Latency:
    """Time every stage and the whole forward pass over ``runs`` runs after at least ``warmup`` runs (more
    while the runs still speed up: :class:`effnetv2.measure.Schedule`).

    The model is moved to ``runtime`` (default: auto device, fp32) and run in eval mode under inference mode
    and the runtime's autocast; its training mode is restored afterwards. ``clock`` defaults to the device's.
    ``threads``: a count, ``"auto"`` (1 or all, timed now) or None (torch's current setting).
    """
    batch = BATCH.check(batch)
    image_size = check_image_size(model, image_size)
    runs = RUNS.check(runs)
    warmup = WARMUP.check(warmup)
    runtime = runtime or resolve()
    clock = clock or clock_for(runtime)
    setting = f"batch {batch} at {image_size} px on {runtime.device}"
    with memory_guard(setting):
        x = random_images(batch, image_size, runtime)
    key = model.blocks
    with memory_guard(setting), StageTimer(model, x, runtime, clock) as timer, threads_for(timer, threads) as used:
        noise = machine_noise(used)
        timings = interleave({key: timer}, Schedule.fixed(runs, warmup), progress=progress)
    conditions = Conditions(noise, timings.rounds, timings.warmup, timings.seconds, timings.stopped)
    return latency_of(timings, key, model, runtime, batch, image_size, clock, conditions)


def threads_for(call: Callable[[], object], requested: int | str | None) -> contextlib.AbstractContextManager:
    """torch's current thread count (None), or :func:`effnetv2.measure.threads_used` for a count or "auto"."""
    if requested is None:
        return contextlib.nullcontext(Threads(torch.get_num_threads(), "torch's setting"))
    return threads_used(call, parse_threads(requested))


def check_train_batch(batch: int, image_size: int) -> None:
    """BatchNorm in training mode needs more than one value per channel, also at the last (1/32) resolution."""
    if batch * math.ceil(image_size / 32) ** 2 < 2:
        raise BoundsError(
            f"training at batch {batch} and {image_size}px leaves one value per channel for BatchNorm; "
            "use batch 2 or more, or a larger image"
        )


def training_throughput(
    model: EfficientNet,
    *,
    batch: int = 8,
    image_size: int | None = None,
    steps: int = 5,
    warmup: int = 2,
    runtime: Runtime | None = None,
    optimizer_step: bool = True,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> Throughput:
    """Images per second of training steps (forward + cross-entropy + backward, + SGD step if asked).

    Runs on a copy of the model, so the caller's weights and BatchNorm statistics are untouched. fp16 uses a
    gradient scaler, as fp16 training does. Random labels: the speed does not depend on them.
    """
    batch = BATCH.check(batch)
    image_size = check_image_size(model, image_size)
    steps = STEPS.check(steps)
    warmup = WARMUP.check(warmup)
    check_train_batch(batch, image_size)
    runtime = runtime or resolve()
    clock = clock or clock_for(runtime)

    with memory_guard(f"training batch {batch} at {image_size} px on {runtime.device}"):
        net = runtime.prepare(copy.deepcopy(model)).train()
        step = _train_step(net, batch, image_size, runtime, optimizer_step)
        timings = interleave({"step": _clocked(step, clock)}, Schedule.fixed(steps, warmup), progress=progress)
    spread = Spread.of(timings.of("step"))
    context = Context.of(model, runtime, batch, image_size, clock)
    return Throughput(context, timings.rounds, timings.warmup["step"], optimizer_step, spread)


def _clocked(call: Callable[[], None], clock: Clock) -> Callable[[], dict[str, float]]:
    """A call timed by the device's clock (CUDA events on a GPU), as a subject of :func:`interleave`."""

    def run() -> dict[str, float]:
        start, end = clock.event(), clock.event()
        start.record()
        call()
        end.record()
        clock.synchronize()
        return {TOTAL: start.elapsed_time(end)}

    return run


def _train_step(
    net: EfficientNet, batch: int, image_size: int, runtime: Runtime, optimizer_step: bool
) -> Callable[[], None]:
    """One training step of ``net`` (in train mode, already on the device) on fixed random images and labels."""
    x = random_images(batch, image_size, runtime)
    labels = torch.randint(0, max(net.num_classes, 1), (batch,), generator=torch.Generator().manual_seed(0))
    labels = labels.to(runtime.device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9) if optimizer_step else None
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.dtype == "fp16")

    def step() -> None:
        with runtime.autocast():
            loss = F.cross_entropy(net(x).float(), labels)
        scaler.scale(loss).backward()
        if opt is not None:
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
        else:
            net.zero_grad(set_to_none=True)

    return step


def training_subject(
    model: EfficientNet, batch: int, image_size: int, runtime: Runtime, clock: Clock
) -> Callable[[], dict[str, float]]:
    """A training step (with SGD) of a copy of ``model`` as a subject of :func:`interleave`."""
    check_train_batch(batch, image_size)
    net = runtime.prepare(copy.deepcopy(model)).train()
    return _clocked(_train_step(net, batch, image_size, runtime, True), clock)


# --- teaching comparisons: several training setups, interleaved, with a verdict ----------------------------

Verdict = str
SUPPORTED: Verdict = "supported"
CONTRADICTED: Verdict = "contradicted"
TOO_NOISY: Verdict = "too noisy"


@dataclass(frozen=True)
class TrainingPoint:
    """One setup of a comparison: its label, image size and images/s (median, 10th and 90th percentile, and
    the median's 95% interval)."""

    label: str
    image_size: int
    batch: int
    images_per_s: float
    p10_images_per_s: float
    p90_images_per_s: float
    low_images_per_s: float | None = None
    high_images_per_s: float | None = None

    @classmethod
    def of(cls, label: str, image_size: int, batch: int, step: Spread) -> TrainingPoint:
        rate = batch * 1e3  # images per second from milliseconds per step
        return cls(label, image_size, batch, rate / step.median_ms, rate / step.p90_ms, rate / step.p10_ms,
                   rate / (step.high_ms or step.median_ms), rate / (step.low_ms or step.median_ms))  # fmt: skip

    @property
    def key(self) -> str:
        return f"{self.label} @ {self.image_size}px"


@dataclass(frozen=True)
class TrainingComparison:
    """Training throughput of several setups measured together, and whether they support a claimed order."""

    points: tuple[TrainingPoint, ...]
    rounds: int
    warmup: int
    verdict: Verdict
    """For the claim "each point trains faster than the next": supported, contradicted, or too noisy to say."""
    differences: tuple[Difference, ...] = ()
    """Each point against the next (the claim: faster), with its interval and verdict."""
    conditions: Conditions | None = None

    def to_dict(self) -> dict:
        return {"points": [asdict(p) for p in self.points], "rounds": self.rounds, "warmup": self.warmup,
                "verdict": self.verdict, "differences": [d.to_dict() for d in self.differences],
                "conditions": None if self.conditions is None else self.conditions.to_dict()}  # fmt: skip


def order_verdict(differences: Sequence[Difference]) -> Verdict:
    """Whether "each point is faster than the next" holds beyond the noise: every adjacent pair's verdict is
    "faster" (supported), one is "slower" (contradicted), or the rest (too noisy to say)."""
    if any(d.verdict == SLOWER for d in differences):
        return CONTRADICTED
    return SUPPORTED if differences and all(d.verdict == FASTER for d in differences) else TOO_NOISY


def compare_training(
    setups: list[tuple[str, EfficientNet, int]],
    *,
    batch: int = 4,
    rounds: int | None = None,
    warmup: int = 1,
    runtime: Runtime | None = None,
    threads: int | str = AUTO,
    progress: Progress | None = None,
    policy: costs.Policy | None = None,
) -> TrainingComparison:
    """Images/s of training steps for each ``(label, model, image_size)``, claimed fastest first.

    Why this shape: a first step at a new shape pays for allocations and oneDNN primitives, and a shared
    machine drifts. So every setup is warmed up until steady, then timed step by step in rotating order
    (:func:`effnetv2.measure.interleave`, at most ``rounds`` rounds, default :data:`TRAINING_SCHEDULE`), and
    each adjacent pair's ratio with its 95% interval decides whether the claimed order is supported, is
    contradicted, or cannot be told from the noise (timed cold and one after the other, the walkthrough's
    size chart once drew a flat or non-monotonic curve that a warm second measurement did not).
    Refused before the first step when its estimated memory (and time, if ``policy`` bounds it) does not fit;
    the time estimated is the fewest warm-up steps and rounds, since the schedule's budget bounds the rest.
    """
    batch = BATCH.check(batch)
    schedule = TRAINING_SCHEDULE
    if rounds is not None:
        rounds = STEPS.renamed("rounds").check(rounds)
        schedule = replace(schedule, min_rounds=min(schedule.min_rounds, rounds), max_rounds=rounds)
    schedule = replace(schedule, min_warmup=WARMUP.check(warmup))
    runtime = runtime or resolve()
    clock = clock_for(runtime)
    for name in dict.fromkeys(model.arch.name for _, model, _ in setups):  # one estimate per architecture
        configs = tuple(
            (model.blocks, check_image_size(model, size)) for _, model, size in setups if model.arch.name == name
        )
        work = costs.Work(name, configs, batch=0, runs=0, train_batch=batch,
                          train_steps=schedule.min_warmup + 1 + schedule.min_rounds,
                          device=str(runtime.device), dtype=runtime.dtype)  # fmt: skip
        (policy or costs.Policy()).check(work, "this training comparison")
    keys = [f"{label} @ {size}px" for label, _, size in setups]
    subjects = {}
    for key, (_label, model, size) in zip(keys, setups, strict=True):
        subjects[key] = training_subject(model, batch, check_image_size(model, size), runtime, clock)
    pairs = list(itertools.pairwise(keys))
    with memory_guard(f"training batch {batch} on {runtime.device}"), threads_for(subjects[keys[0]], threads) as used:
        noise = machine_noise(used)
        timings = interleave(subjects, schedule, pairs=pairs, progress=progress)
    points = tuple(
        TrainingPoint.of(label, size, batch, Spread.of(timings.of(key)))
        for key, (label, _, size) in zip(keys, setups, strict=True)
    )
    diffs = tuple(difference(timings, "training step", b, a) for a, b in pairs)
    conditions = Conditions(noise, timings.rounds, timings.warmup, timings.seconds, timings.stopped)
    warm = max(timings.warmup.values())
    return TrainingComparison(points, timings.rounds, warm, order_verdict(diffs), diffs, conditions)


# --- the CLI's / app's one-call benchmark -------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A latency measurement, optionally with training throughput; ``to_dict`` is the CLI's JSON."""

    latency: Latency
    throughput: Throughput | None = None

    def to_dict(self) -> dict:
        """Exactly the keys of ``python -m effnetv2 bench --json`` (``images_per_s`` and its interval only with
        training); ``noise`` is the machine-noise line measured before the runs."""
        c, lat = self.latency.context, self.latency
        out = {
            "model": c.model,
            "blocks": c.blocks,
            "device": c.device,
            "dtype": c.dtype,
            "threads": c.threads,
            "batch": c.batch,
            "image_size": c.image_size,
            "total_ms": lat.total_ms,
            "total_low_ms": lat.total.low_ms,
            "total_high_ms": lat.total.high_ms,
            "stage_sum_ms": lat.stage_sum_ms,
            "agrees": lat.agrees,
            "stages": [s.to_dict() for s in lat.stages],
            "noise": None if lat.conditions is None else lat.conditions.noise.line(),
        }
        if self.throughput is not None:
            low, high = self.throughput.images_per_s_interval
            out.update(images_per_s=self.throughput.images_per_s, images_per_s_low=low, images_per_s_high=high)
        return out


BENCHMARK_POLICY = costs.Policy(memory_knobs=(("batch", BATCH), ("image size", IMAGE_SIZE)))
"""The engine's (the CLI's): memory only; a refusal suggests a smaller batch, then a smaller image."""


def benchmark(
    model: str | EfficientNet,
    *,
    blocks: str | None = None,
    image_size: int | None = None,
    batch: int = 1,
    runs: int = 20,
    warmup: int = 3,
    device: str | torch.device | None = "auto",
    dtype: str = "fp32",
    channels_last: bool = False,
    train: bool = False,
    train_batch: int | None = None,
    train_steps: int = 5,
    threads: int | str | None = None,
    progress: Progress | None = None,
    policy: costs.Policy | None = None,
) -> Benchmark:
    """Latency per stage (and training throughput with ``train``) of a registered model or a given one.

    A model name is built with random weights: speed does not depend on the weights' values.
    ``train_batch`` defaults to ``batch`` (at least 2, which BatchNorm needs in training). Before anything is
    built, the request's memory (and, if ``policy`` bounds it, time) is estimated and refused when it does not
    fit (:mod:`effnetv2.costs`). ``threads``: a count, ``"auto"`` (1 or all, whichever is faster now) or None
    (torch's setting); the training steps run at the count the latency measurement used.
    """
    if blocks is not None and not isinstance(model, str):
        raise ValueError("blocks applies to a model name, not to a built model")
    runtime = resolve(device, dtype, channels_last)
    train = flag("train", train)  # before the estimate: the string "false" must not count training
    name = model if isinstance(model, str) else model.arch.name
    letters = get_arch(name).validate_blocks(blocks if isinstance(model, str) else model.blocks)
    size = IMAGE_SIZE.check(get_arch(name).image_size if image_size is None else image_size)
    work = costs.Work(
        name,
        ((letters, size),),
        batch=BATCH.check(batch),
        runs=RUNS.check(runs),
        warmup=WARMUP.check(warmup),
        train_batch=BATCH.check(train_batch if train_batch is not None else max(batch, 2)) if train else 0,
        train_steps=STEPS.check(train_steps) + min(warmup, 2) if train else 0,
        device=str(runtime.device),
        dtype=runtime.dtype,
    )
    (policy or BENCHMARK_POLICY).check(work, "this measurement")
    net = create_model(model, blocks=blocks) if isinstance(model, str) else model
    latency_part = 0.7 if train else 1.0
    latency = stage_latency(
        net,
        batch=batch,
        image_size=image_size,
        runs=runs,
        warmup=warmup,
        runtime=runtime,
        threads=threads,
        progress=sub_progress(progress, 0.0, latency_part, "latency: "),
    )
    throughput = None
    if train:
        with threads_for(lambda: None, latency.context.threads):
            throughput = training_throughput(
                net,
                batch=train_batch if train_batch is not None else max(batch, 2),
                image_size=image_size,
                steps=train_steps,
                warmup=min(warmup, 2),
                runtime=runtime,
                progress=sub_progress(progress, latency_part, 1.0, "training: "),
            )
        throughput = replace(throughput, context=replace(throughput.context, threads=latency.context.threads))
    return Benchmark(latency, throughput)
