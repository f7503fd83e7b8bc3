"""Per-stage latency inside the real forward pass, and training throughput (forward + backward images/s).

Each stage (``stem``, ``stage1`` ... ``stageN``, ``head``) is timed by a pre/post forward hook pair during
ordinary ``model(x)`` calls, so the stages are measured as they run together (caches, launches, allocator),
not one by one. An event is recorded in each hook: on CUDA a ``torch.cuda.Event`` (the GPU runs
asynchronously, so a wall clock would measure launches), with one synchronize after all runs; on CPU a
``perf_counter`` reading. Both go through :class:`Clock`, which tests replace to run the CUDA code path on CPU.

The sum of the stage medians is reported beside the end-to-end median; they must agree within
:data:`AGREEMENT` (hooks that miss work, or add much of their own, would show here).

The paper's speed claims (Tables 2 and 3) are about training, hence :func:`training_throughput`.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from . import cancel, costs
from .bounds import BATCH, IMAGE_SIZE, RUNS, STEPS, WARMUP, flag
from .config import get_arch
from .devices import Runtime, memory_guard, resolve
from .errors import BoundsError, StageError
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


def _notify(progress: Progress | None, fraction: float, text: str) -> None:
    """Report progress at a run or step boundary, and stop there if the job was abandoned (``effnetv2.cancel``)."""
    cancel.check()
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), text)


def sub_progress(progress: Progress | None, start: float, end: float, prefix: str = "") -> Progress | None:
    """A callback for one part of a longer job: its 0..1 maps onto ``start``..``end`` of ``progress``."""
    if progress is None:
        return None
    return lambda f, text: progress(start + (end - start) * f, f"{prefix}{text}")


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median and 10th/90th percentiles of a list of times, in milliseconds."""

    median_ms: float
    p10_ms: float
    p90_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Spread:
        if not samples_ms:
            raise ValueError("no samples")
        p10, median, p90 = np.percentile(np.asarray(samples_ms, dtype=np.float64), [10, 50, 90])
        return cls(float(median), float(p10), float(p90))


@dataclass(frozen=True)
class StageLatency:
    name: str
    median_ms: float
    p10_ms: float
    p90_ms: float
    params: int
    macs: int

    def to_dict(self) -> dict:
        """``{"name", "median_ms", "p10_ms", "p90_ms", "params", "macs"}``: every JSON's stage entry."""
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
    stage_sum_ms: float = field(init=False)
    ratio: float = field(init=False)
    """stage_sum_ms / total median."""
    agrees: bool = field(init=False)
    """Whether the stage sum is within :data:`AGREEMENT` of the end-to-end median."""

    def __post_init__(self) -> None:
        stage_sum = sum(s.median_ms for s in self.stages)
        ratio = stage_sum / self.total.median_ms if self.total.median_ms > 0 else math.inf
        object.__setattr__(self, "stage_sum_ms", stage_sum)
        object.__setattr__(self, "ratio", ratio)
        object.__setattr__(self, "agrees", abs(ratio - 1.0) <= AGREEMENT)

    @property
    def total_ms(self) -> float:
        return self.total.median_ms

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
            stage_sum_ms=self.stage_sum_ms,
            ratio=self.ratio,
            agrees=self.agrees,
            stages=[s.to_dict() for s in self.stages],
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

    def to_dict(self) -> dict:
        out = asdict(self.context)
        out.update(
            steps=self.steps,
            warmup=self.warmup,
            optimizer_step=self.optimizer_step,
            step_ms=self.step.median_ms,
            step_p10_ms=self.step.p10_ms,
            step_p90_ms=self.step.p90_ms,
            images_per_s=self.images_per_s,
        )
        return out


# --- measurement --------------------------------------------------------------------------------------------


def _random_images(batch: int, image_size: int, runtime: Runtime) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)  # content does not change the speed; fixed for repeatability
    return runtime.input(torch.randn(batch, 3, image_size, image_size, generator=g))


def stage_latency(
    model: EfficientNet,
    *,
    batch: int = 1,
    image_size: int | None = None,
    runs: int = 20,
    warmup: int = 3,
    runtime: Runtime | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> Latency:
    """Time every stage and the whole forward pass over ``runs`` runs after ``warmup`` runs.

    The model is moved to ``runtime`` (default: auto device, fp32) and run in eval mode under inference mode
    and the runtime's autocast; its training mode is restored afterwards. ``clock`` defaults to the device's.
    """
    batch = BATCH.check(batch)
    image_size = check_image_size(model, image_size)
    runs = RUNS.check(runs)
    warmup = WARMUP.check(warmup)
    runtime = runtime or resolve()
    clock = clock or clock_for(runtime)
    counts = {s.name: s for s in model_stats(model, image_size).stages}

    was_training = model.training
    runtime.prepare(model).eval()
    setting = f"batch {batch} at {image_size} px on {runtime.device}"
    with memory_guard(setting):
        x = _random_images(batch, image_size, runtime)
    names = list(model.stage_names)
    # One (start, end) pair per stage and per run, plus the end-to-end pair, made before the run so that the
    # hooks only record (their own cost shows in a launch-bound GPU run); read after one synchronize.
    marks: list[dict[str, tuple[Event, Event]]] = []
    current: dict[str, tuple[Event, Event]] = {}

    def pre(name: str):
        def hook(module, args):
            cancel.check()  # an abandoned job stops at the next stage, not only at the next run
            current[name][0].record()

        return hook

    def post(name: str):
        def hook(module, args, output):
            current[name][1].record()

        return hook

    handles = []
    try:
        for name, module in model.stages():
            handles.append(module.register_forward_pre_hook(pre(name)))
            handles.append(module.register_forward_hook(post(name)))
        total = warmup + runs
        with memory_guard(setting), torch.inference_mode(), runtime.autocast():
            for i in range(total):
                current = {key: (clock.event(), clock.event()) for key in ["total", *names]}
                current["total"][0].record()
                model(x)
                current["total"][1].record()
                if i >= warmup:
                    marks.append(current)
                _notify(progress, (i + 1) / total, f"{'warm-up' if i < warmup else 'run'} {i + 1}/{total}")
        clock.synchronize()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    def spread(key: str) -> Spread:
        return Spread.of([m[key][0].elapsed_time(m[key][1]) for m in marks])

    total = spread("total")
    per_image_s = total.median_ms / 1e3 / batch
    costs.record_forward(model.arch.name, model.blocks, image_size, str(runtime.device), runtime.dtype, per_image_s)
    stages = []
    for name in names:
        s = spread(name)
        stages.append(StageLatency(name, s.median_ms, s.p10_ms, s.p90_ms, counts[name].params, counts[name].macs))
    return Latency(Context.of(model, runtime, batch, image_size, clock), runs, warmup, total, stages)


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
        step = _train_steps(model, batch, image_size, steps, warmup, runtime, optimizer_step, clock, progress)
    return Throughput(Context.of(model, runtime, batch, image_size, clock), steps, warmup, optimizer_step, step)


def _train_step(
    net: EfficientNet, batch: int, image_size: int, runtime: Runtime, optimizer_step: bool
) -> Callable[[], None]:
    """One training step of ``net`` (in train mode, already on the device) on fixed random images and labels."""
    x = _random_images(batch, image_size, runtime)
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


def _train_steps(
    model: EfficientNet,
    batch: int,
    image_size: int,
    steps: int,
    warmup: int,
    runtime: Runtime,
    optimizer_step: bool,
    clock: Clock,
    progress: Progress | None,
) -> Spread:
    net = runtime.prepare(copy.deepcopy(model)).train()
    step = _train_step(net, batch, image_size, runtime, optimizer_step)
    pairs: list[tuple[Event, Event]] = []
    total = warmup + steps
    for i in range(total):
        start, end = clock.event(), clock.event()
        start.record()
        step()
        end.record()
        if i >= warmup:
            pairs.append((start, end))
        _notify(progress, (i + 1) / total, f"training {'warm-up' if i < warmup else 'step'} {i + 1}/{total}")
    clock.synchronize()
    return Spread.of([a.elapsed_time(b) for a, b in pairs])


# --- teaching comparisons: several training setups, interleaved, with a verdict ----------------------------

Verdict = str
SUPPORTED: Verdict = "supported"
CONTRADICTED: Verdict = "contradicted"
TOO_NOISY: Verdict = "too noisy"


@dataclass(frozen=True)
class TrainingPoint:
    """One setup of a comparison: its label, image size and images/s (median, 10th and 90th percentile)."""

    label: str
    image_size: int
    batch: int
    images_per_s: float
    p10_images_per_s: float
    p90_images_per_s: float

    @classmethod
    def of(cls, label: str, image_size: int, batch: int, step: Spread) -> TrainingPoint:
        rate = batch * 1e3  # images per second from milliseconds per step
        return cls(label, image_size, batch, rate / step.median_ms, rate / step.p90_ms, rate / step.p10_ms)

    def faster_than(self, other: TrainingPoint) -> bool | None:
        """True/False when the two spreads do not overlap (a difference the noise cannot explain), else None."""
        if self.p10_images_per_s > other.p90_images_per_s:
            return True
        if self.p90_images_per_s < other.p10_images_per_s:
            return False
        return None


@dataclass(frozen=True)
class TrainingComparison:
    """Training throughput of several setups measured together, and whether they support a claimed order."""

    points: tuple[TrainingPoint, ...]
    rounds: int
    warmup: int
    verdict: Verdict
    """For the claim "each point trains faster than the next": supported, contradicted, or too noisy to say."""

    def to_dict(self) -> dict:
        return {"points": [asdict(p) for p in self.points], "rounds": self.rounds, "warmup": self.warmup,
                "verdict": self.verdict}  # fmt: skip


def order_verdict(points: tuple[TrainingPoint, ...]) -> Verdict:
    """Whether "each point is faster than the next" holds beyond the noise of the measurement."""
    pairs = [a.faster_than(b) for a, b in itertools.pairwise(points)]
    if any(p is False for p in pairs):
        return CONTRADICTED
    return SUPPORTED if all(pairs) else TOO_NOISY


def compare_training(
    setups: list[tuple[str, EfficientNet, int]],
    *,
    batch: int = 4,
    rounds: int = 4,
    warmup: int = 1,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    policy: costs.Policy | None = None,
) -> TrainingComparison:
    """Images/s of training steps for each ``(label, model, image_size)``, claimed fastest first.

    Why this shape: a first step at a new shape pays for allocations and oneDNN primitives, and a shared
    machine drifts. So every setup is warmed up first, then timed step by step in rotating order, ``rounds``
    steps each, and the spread (10th-90th percentile) decides whether the claimed order is supported, is
    contradicted, or cannot be told from the noise (timed cold and one after the other, the walkthrough's
    size chart once drew a flat or non-monotonic curve that a warm second measurement did not).
    Refused before the first step when its estimated memory (and time, if ``policy`` bounds it) does not fit.
    """
    batch = BATCH.check(batch)
    rounds = STEPS.renamed("rounds").check(rounds)
    warmup = WARMUP.check(warmup)
    runtime = runtime or resolve()
    clock = clock_for(runtime)
    for name in dict.fromkeys(model.arch.name for _, model, _ in setups):  # one estimate per architecture
        configs = tuple(
            (model.blocks, check_image_size(model, size)) for _, model, size in setups if model.arch.name == name
        )
        work = costs.Work(name, configs, batch=0, runs=0, train_batch=batch, train_steps=warmup + rounds,
                          device=str(runtime.device), dtype=runtime.dtype)  # fmt: skip
        (policy or costs.Policy()).check(work, "this training comparison")
    steps = []
    for _label, model, size in setups:
        check_train_batch(batch, check_image_size(model, size))
        steps.append(_train_step(runtime.prepare(copy.deepcopy(model)).train(), batch, size, runtime, True))
    total = len(steps) * (warmup + rounds)
    done = 0
    pairs: list[list[tuple[Event, Event]]] = [[] for _ in steps]
    with memory_guard(f"training batch {batch} on {runtime.device}"):
        for (label, _, size), step in zip(setups, steps, strict=True):
            for _ in range(warmup):
                step()
                done += 1
                _notify(progress, done / total, f"{label}, {size} px: warm-up ({done}/{total})")
        for r in range(rounds):
            order = list(range(len(steps)))
            for i in order[r % len(order) :] + order[: r % len(order)]:
                start, end = clock.event(), clock.event()
                start.record()
                steps[i]()
                end.record()
                pairs[i].append((start, end))
                done += 1
                label, _, size = setups[i]
                _notify(progress, done / total, f"{label}, {size} px: step ({done}/{total})")
        clock.synchronize()
    points = tuple(
        TrainingPoint.of(label, size, batch, Spread.of([a.elapsed_time(b) for a, b in timed]))
        for (label, _, size), timed in zip(setups, pairs, strict=True)
    )
    return TrainingComparison(points, rounds, warmup, order_verdict(points))


# --- the CLI's / app's one-call benchmark -------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A latency measurement, optionally with training throughput; ``to_dict`` is the CLI's JSON."""

    latency: Latency
    throughput: Throughput | None = None

    def to_dict(self) -> dict:
        """Exactly the keys of ``python -m effnetv2 bench --json`` (``images_per_s`` only with training)."""
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
            "stage_sum_ms": lat.stage_sum_ms,
            "stages": [s.to_dict() for s in lat.stages],
        }
        if self.throughput is not None:
            out["images_per_s"] = self.throughput.images_per_s
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
    progress: Progress | None = None,
    policy: costs.Policy | None = None,
) -> Benchmark:
    """Latency per stage (and training throughput with ``train``) of a registered model or a given one.

    A model name is built with random weights: speed does not depend on the weights' values.
    ``train_batch`` defaults to ``batch`` (at least 2, which BatchNorm needs in training). Before anything is
    built, the request's memory (and, if ``policy`` bounds it, time) is estimated and refused when it does not
    fit (:mod:`effnetv2.costs`).
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
        progress=sub_progress(progress, 0.0, latency_part, "latency: "),
    )
    throughput = None
    if train:
        throughput = training_throughput(
            net,
            batch=train_batch if train_batch is not None else max(batch, 2),
            image_size=image_size,
            steps=train_steps,
            warmup=min(warmup, 2),
            runtime=runtime,
            progress=sub_progress(progress, latency_part, 1.0, ""),
        )
    return Benchmark(latency, throughput)
