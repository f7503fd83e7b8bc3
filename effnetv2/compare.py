"""MBConv vs Fused-MBConv, side by side: a baseline against ``blocks`` variants and/or other image sizes.

Every variant gets parameters and MACs (from :mod:`effnetv2.stats`), per-stage latency and training
throughput, and against the baseline a verdict with its 95% interval for each (:mod:`effnetv2.measure`): all
configurations are warmed up, then timed interleaved round by round (never one after the other: a shared
machine's bursts would land on one of them), and the stages that are the same in both (same letter, same input
size) serve as controls that must measure the same. A variant equal to the baseline is an A/A comparison: it
shows what the machine's noise alone produces. Only the published architectures have pretrained checkpoints;
any other ``blocks`` string is random weights, which is fine here because speed and size do not depend on the
weights' values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from . import costs
from .bounds import BATCH, IMAGE_SIZE, RUNS, TRAIN_BATCH, TRAIN_STEPS, WARMUP, flag
from .config import get_arch
from .devices import Runtime, memory_guard, resolve
from .measure import (
    AUTO,
    LATENCY_SCHEDULE,
    TRAINING_SCHEDULE,
    Conditions,
    Difference,
    Schedule,
    Timings,
    difference,
    interleave,
    machine_noise,
)
from .model import EfficientNet, create_model
from .names import stage_name
from .profiling import (
    Context,
    Latency,
    Progress,
    Spread,
    StageTimer,
    Throughput,
    check_train_batch,
    clock_for,
    latency_of,
    random_images,
    sub_progress,
    threads_for,
    training_subject,
)

NO_WEIGHTS_NOTE = "random weights: speed and size only"
MAX_VARIANTS = 8
"""Variants per comparison besides the baseline: each costs a full latency + training measurement."""
COMPARE_POLICY = costs.Policy(
    memory_knobs=(("train batch", TRAIN_BATCH), ("batch", BATCH), ("image size", IMAGE_SIZE)),
    training_optional=True,
)
"""The engine's (the CLI's): memory only; a refusal suggests measuring without training, or smaller settings."""


def has_pretrained(model: str, blocks: str) -> bool:
    """A Hub checkpoint exists for this architecture with exactly these blocks (the published ones)."""
    from .checkpoints import CHECKPOINTS

    arch = get_arch(model)
    return blocks == arch.default_blocks and any(c.arch == arch.name for c in CHECKPOINTS.values())


@dataclass(frozen=True)
class Variant:
    """One measured configuration of the model."""

    model: str
    blocks: str
    image_size: int
    params: int
    macs: int
    latency: Latency
    throughput: Throughput | None
    pretrained: bool

    @property
    def label(self) -> str:
        return f"{self.blocks} @ {self.image_size}px"

    @property
    def note(self) -> str | None:
        return None if self.pretrained else NO_WEIGHTS_NOTE

    @property
    def images_per_s(self) -> float | None:
        return self.throughput.images_per_s if self.throughput is not None else None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "blocks": self.blocks,
            "image_size": self.image_size,
            "pretrained": self.pretrained,
            "note": self.note,
            "params": self.params,
            "macs": self.macs,
            "total_ms": self.latency.total_ms,
            "total_low_ms": self.latency.total.low_ms,
            "total_high_ms": self.latency.total.high_ms,
            "stage_sum_ms": self.latency.stage_sum_ms,
            "agrees": self.latency.agrees,
            "images_per_s": self.images_per_s,
            "images_per_s_interval": None if self.throughput is None else self.throughput.images_per_s_interval,
            "stages": [s.to_dict() for s in self.latency.stages],
        }


@dataclass(frozen=True)
class Delta:
    """Absolute and relative (percent) change; None where either side is missing or the base is zero."""

    abs: float | None
    pct: float | None

    @classmethod
    def of(cls, new: float | None, old: float | None) -> Delta:
        if new is None or old is None:
            return cls(None, None)
        return cls(new - old, 100.0 * (new - old) / old if old else None)

    def to_dict(self) -> dict[str, float | None]:
        return {"abs": self.abs, "pct": self.pct}


@dataclass(frozen=True)
class Deltas:
    """A variant's changes against the baseline (variant - baseline)."""

    params: Delta
    macs: Delta
    total_ms: Delta
    images_per_s: Delta
    stages: dict[str, Delta]

    def to_dict(self) -> dict:
        out = {k: getattr(self, k).to_dict() for k in ("params", "macs", "total_ms", "images_per_s")}
        out["stages"] = {name: d.to_dict() for name, d in self.stages.items()}
        return out


@dataclass(frozen=True)
class Comparison:
    """The baseline and its variants, with deltas (variant - baseline) of every figure and, per variant, the
    verdicts of latency and training against the baseline (:class:`effnetv2.measure.Difference`)."""

    baseline: Variant
    variants: list[Variant]
    latency_verdicts: tuple[Difference, ...] = ()
    training_verdicts: tuple[Difference, ...] = ()
    conditions: Conditions | None = None
    """The machine's noise line, threads, rounds of the latency measurement."""
    training_conditions: Conditions | None = None

    @property
    def rows(self) -> list[Variant]:
        """The baseline, then every variant."""
        return [self.baseline, *self.variants]

    def deltas(self, v: Variant) -> Deltas:
        b = self.baseline
        base_stages = {s.name: s.median_ms for s in b.latency.stages}
        return Deltas(
            Delta.of(v.params, b.params),
            Delta.of(v.macs, b.macs),
            Delta.of(v.latency.total_ms, b.latency.total_ms),
            Delta.of(v.images_per_s, b.images_per_s),
            {s.name: Delta.of(s.median_ms, base_stages.get(s.name)) for s in v.latency.stages},
        )

    def verdicts(self, i: int) -> tuple[Difference | None, Difference | None]:
        """(latency, training) verdicts of variant ``i`` (0-based among the variants; None: not measured)."""
        lat = self.latency_verdicts[i] if i < len(self.latency_verdicts) else None
        train = self.training_verdicts[i] if i < len(self.training_verdicts) else None
        return lat, train

    def to_dict(self) -> dict:
        c = self.baseline.latency.context
        variants = []
        for i, v in enumerate(self.variants):
            lat, train = self.verdicts(i)
            variants.append({**v.to_dict(), "delta": self.deltas(v).to_dict(),
                             "latency_verdict": None if lat is None else lat.to_dict(),
                             "training_verdict": None if train is None else train.to_dict()})  # fmt: skip
        return {
            "model": c.model,
            "device": c.device,
            "dtype": c.dtype,
            "threads": c.threads,
            "batch": c.batch,
            "runs": self.baseline.latency.runs,
            "train_batch": self.baseline.throughput.context.batch if self.baseline.throughput else None,
            "noise": None if self.conditions is None else self.conditions.noise.line(),
            "conditions": None if self.conditions is None else self.conditions.to_dict(),
            "training_conditions": None if self.training_conditions is None else self.training_conditions.to_dict(),
            "baseline": self.baseline.to_dict(),
            "variants": variants,
        }


@dataclass(frozen=True)
class _Plan:
    """How every variant is measured (identical for all, so the numbers compare)."""

    runtime: Runtime
    batch: int
    latency: Schedule
    train: bool
    train_batch: int
    training: Schedule
    threads: int | str


def controls(base: tuple[str, int], other: tuple[str, int]) -> list[str]:
    """The sections that are the same architecture in both configurations: at the same image size, the stem,
    the head and every stage with the same letter (a stage's input shape does not depend on the letters of the
    stages before it). At different sizes, none."""
    (a, size_a), (b, size_b) = base, other
    if size_a != size_b:
        return []
    same = [stage_name(i) for i, (x, y) in enumerate(zip(a, b, strict=True), start=1) if x == y]
    return ["stem", *same, "head"]


def _keys(configs: list[tuple[str, int]]) -> list[str]:
    """A unique name per configuration: its label, and "(A/A)" on a repeat of the baseline."""
    keys: list[str] = []
    for b, s in configs:
        key = f"{b} @ {s}px"
        keys.append(key if key not in keys else f"{key} (A/A)")
    return keys


def _measure(
    model: str, configs: list[tuple[str, int]], plan: _Plan, progress: Progress | None
) -> tuple[list[Variant], tuple[Difference, ...], tuple[Difference, ...], Conditions, Conditions | None]:
    """Latency of every configuration interleaved, then (with training) its training steps interleaved."""
    runtime, clock = plan.runtime, clock_for(plan.runtime)
    keys = _keys(configs)
    nets = [create_model(model, blocks=b) for b, _ in configs]
    split = 0.5 if plan.train else 1.0
    with memory_guard(f"batch {plan.batch} on {runtime.device}"), contextlib.ExitStack() as stack:
        timers = {
            k: stack.enter_context(StageTimer(net, random_images(plan.batch, s, runtime), runtime, clock))
            for k, net, (_, s) in zip(keys, nets, configs, strict=True)
        }
        used = stack.enter_context(threads_for(timers[keys[0]], plan.threads))
        noise = machine_noise(used)
        timings = interleave(timers, plan.latency, progress=sub_progress(progress, 0.0, split, "latency: "))
        conditions = Conditions(noise, timings.rounds, timings.warmup, timings.seconds, timings.stopped)
        latencies = [
            latency_of(timings, k, net, runtime, plan.batch, s, clock, conditions)
            for k, net, (_, s) in zip(keys, nets, configs, strict=True)
        ]
        lat_verdicts = tuple(
            difference(timings, "latency", keys[0], k, controls=controls(configs[0], c),
                       agreement=latencies[0].disagreement or latencies[i].disagreement)
            for i, (k, c) in enumerate(zip(keys, configs, strict=True)) if i
        )  # fmt: skip
        throughputs: list[Throughput | None] = [None] * len(configs)
        train_verdicts: tuple[Difference, ...] = ()
        train_conditions = None
        if plan.train:
            steps = {
                k: training_subject(net, plan.train_batch, s, runtime, clock)
                for k, net, (_, s) in zip(keys, nets, configs, strict=True)
            }
            part = sub_progress(progress, split, 1.0, "training: ")
            train = interleave(steps, plan.training, progress=part)
            train_conditions = Conditions(noise, train.rounds, train.warmup, train.seconds, train.stopped)
            throughputs = [_throughput(train, k, net, plan, s, clock, used.count) for k, net, (_, s) in
                           zip(keys, nets, configs, strict=True)]  # fmt: skip
            train_verdicts = tuple(difference(train, "training step", keys[0], k) for k in keys[1:])
    variants = [
        Variant(model, b, s, sum(x.params for x in lat.stages), sum(x.macs for x in lat.stages), lat, thr,
                has_pretrained(model, b))
        for (b, s), lat, thr in zip(configs, latencies, throughputs, strict=True)
    ]  # fmt: skip
    return variants, lat_verdicts, train_verdicts, conditions, train_conditions


def _throughput(
    timings: Timings, key: str, net: EfficientNet, plan: _Plan, size: int, clock, threads: int
) -> Throughput:
    context = replace(Context.of(net, plan.runtime, plan.train_batch, size, clock), threads=threads)
    return Throughput(context, timings.rounds, timings.warmup[key], True, Spread.of(timings.of(key)))


def compare(
    model: str,
    blocks: Sequence[str] = (),
    image_sizes: Sequence[int] = (),
    *,
    baseline_blocks: str | None = None,
    image_size: int | None = None,
    batch: int = 1,
    runs: int = LATENCY_SCHEDULE.max_rounds,
    warmup: int = 1,
    device: str | torch.device | None = "auto",
    dtype: str = "fp32",
    channels_last: bool = False,
    train: bool = True,
    train_batch: int = 4,
    train_steps: int = TRAINING_SCHEDULE.max_rounds,
    threads: int | str = AUTO,
    progress: Progress | None = None,
    policy: costs.Policy = COMPARE_POLICY,
) -> Comparison:
    """Baseline (``baseline_blocks``, default the published ones, at ``image_size``) vs every combination of
    ``blocks`` and ``image_sizes`` (either list may be empty: it then keeps the baseline's value; when nothing
    differs from the baseline, the comparison is A/A: the baseline against itself).

    ``runs`` and ``train_steps`` are the most rounds of latency and training (fewer once every interval is
    tight, or the time budget of :data:`~effnetv2.measure.LATENCY_SCHEDULE` / ``TRAINING_SCHEDULE`` is
    spent); ``warmup`` the fewest warm-up runs. ``threads``: a count, or ``"auto"``: 1 or all, whichever runs
    the baseline faster right now. The whole comparison's memory (and time, if ``policy`` bounds it: the fewest
    warm-up runs and rounds, since the schedules' budgets bound the rest) is estimated before the first
    measurement and refused in one line when it does not fit (:mod:`effnetv2.costs`)."""
    arch = get_arch(model)
    base_blocks = arch.validate_blocks(baseline_blocks)
    base_size = IMAGE_SIZE.check(arch.image_size if image_size is None else image_size)
    letters = [arch.validate_blocks(b) for b in blocks] or [base_blocks]
    sizes = [IMAGE_SIZE.check(s) for s in image_sizes] or [base_size]
    wanted = [(b, s) for b in letters for s in sizes if (b, s) != (base_blocks, base_size)]
    wanted = list(dict.fromkeys(wanted)) or [(base_blocks, base_size)]  # repeats once; nothing new: A/A
    if len(wanted) > MAX_VARIANTS:
        raise ValueError(f"at most {MAX_VARIANTS} variants per comparison, got {len(wanted)}")
    runs, train_steps = RUNS.check(runs), TRAIN_STEPS.check(train_steps)
    warmup = WARMUP.check(warmup)
    plan = _Plan(
        resolve(device, dtype, channels_last),
        BATCH.check(batch),
        replace(LATENCY_SCHEDULE, min_rounds=min(LATENCY_SCHEDULE.min_rounds, runs), max_rounds=runs,
                min_warmup=warmup, max_warmup=max(warmup, LATENCY_SCHEDULE.max_warmup)),
        flag("train", train),  # "false" is refused, not truthy
        TRAIN_BATCH.check(train_batch),
        replace(TRAINING_SCHEDULE, min_rounds=min(TRAINING_SCHEDULE.min_rounds, train_steps),
                max_rounds=train_steps, min_warmup=min(warmup, TRAINING_SCHEDULE.max_warmup)),
        threads,
    )  # fmt: skip
    configs = [(base_blocks, base_size), *wanted]
    if plan.train:
        for _, s in configs:  # fail before any measurement, not after the baseline
            check_train_batch(plan.train_batch, s)
    work = costs.Work(
        arch.name,
        tuple(configs),
        batch=plan.batch,
        runs=plan.latency.min_rounds,
        warmup=plan.latency.min_warmup + 1,
        train_batch=plan.train_batch if plan.train else 0,
        train_steps=plan.training.min_rounds + plan.training.min_warmup + 1 if plan.train else 0,
        device=str(plan.runtime.device),
        dtype=plan.runtime.dtype,
    )
    policy.check(work, "this comparison")
    variants, lat, train, conditions, train_conditions = _measure(arch.name, configs, plan, progress)
    return Comparison(variants[0], variants[1:], lat, train, conditions, train_conditions)
