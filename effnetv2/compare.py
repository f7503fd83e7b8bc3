"""MBConv vs Fused-MBConv, side by side: a baseline against ``blocks`` variants and/or other image sizes.

Every variant gets parameters and MACs (from :mod:`effnetv2.stats`), per-stage latency and training
throughput, measured one after the other with the same device, dtype, batch and runs, and its deltas to the
baseline. Only the published architectures have pretrained checkpoints; any other ``blocks`` string is
random weights, which is fine here because speed and size do not depend on the weights' values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from . import costs
from .bounds import BATCH, IMAGE_SIZE, RUNS, TRAIN_BATCH, TRAIN_STEPS, WARMUP, flag
from .config import get_arch
from .devices import Runtime, resolve
from .model import create_model
from .profiling import (
    Latency,
    Progress,
    Throughput,
    check_train_batch,
    stage_latency,
    sub_progress,
    training_throughput,
)

NO_WEIGHTS_NOTE = "random weights: speed and size only"
MAX_VARIANTS = 8
"""Variants per comparison besides the baseline: each costs a full latency + training measurement."""
TRAIN_WARMUP = 1
"""Untimed training steps per variant before the timed ones."""
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
            "stage_sum_ms": self.latency.stage_sum_ms,
            "images_per_s": self.images_per_s,
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
    """The baseline and its variants, with deltas (variant - baseline) of every figure."""

    baseline: Variant
    variants: list[Variant]

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

    def to_dict(self) -> dict:
        c = self.baseline.latency.context
        return {
            "model": c.model,
            "device": c.device,
            "dtype": c.dtype,
            "threads": c.threads,
            "batch": c.batch,
            "runs": self.baseline.latency.runs,
            "train_batch": self.baseline.throughput.context.batch if self.baseline.throughput else None,
            "baseline": self.baseline.to_dict(),
            "variants": [{**v.to_dict(), "delta": self.deltas(v).to_dict()} for v in self.variants],
        }


@dataclass(frozen=True)
class _Plan:
    """How every variant is measured (identical for all, so the numbers compare)."""

    runtime: Runtime
    batch: int
    runs: int
    warmup: int
    train: bool
    train_batch: int
    train_steps: int


def _measure(model: str, blocks: str, size: int, plan: _Plan, progress: Progress | None) -> Variant:
    net = create_model(model, blocks=blocks)
    split = 0.6 if plan.train else 1.0
    latency = stage_latency(
        net,
        batch=plan.batch,
        image_size=size,
        runs=plan.runs,
        warmup=plan.warmup,
        runtime=plan.runtime,
        progress=sub_progress(progress, 0.0, split),
    )
    throughput = None
    if plan.train:
        throughput = training_throughput(
            net,
            batch=plan.train_batch,
            image_size=size,
            steps=plan.train_steps,
            warmup=TRAIN_WARMUP,
            runtime=plan.runtime,
            progress=sub_progress(progress, split, 1.0),
        )
    params = sum(s.params for s in latency.stages)
    macs = sum(s.macs for s in latency.stages)
    return Variant(model, blocks, size, params, macs, latency, throughput, has_pretrained(model, blocks))


def compare(
    model: str,
    blocks: Sequence[str] = (),
    image_sizes: Sequence[int] = (),
    *,
    baseline_blocks: str | None = None,
    image_size: int | None = None,
    batch: int = 1,
    runs: int = 10,
    warmup: int = 2,
    device: str | torch.device | None = "auto",
    dtype: str = "fp32",
    channels_last: bool = False,
    train: bool = True,
    train_batch: int = 4,
    train_steps: int = 3,
    progress: Progress | None = None,
    policy: costs.Policy = COMPARE_POLICY,
) -> Comparison:
    """Baseline (``baseline_blocks``, default the published ones, at ``image_size``) vs every combination of
    ``blocks`` and ``image_sizes`` (either list may be empty: it then keeps the baseline's value).

    The whole comparison's memory (and time, if ``policy`` bounds it) is estimated before the first
    measurement and refused in one line when it does not fit (:mod:`effnetv2.costs`)."""
    arch = get_arch(model)
    base_blocks = arch.validate_blocks(baseline_blocks)
    base_size = IMAGE_SIZE.check(arch.image_size if image_size is None else image_size)
    letters = [arch.validate_blocks(b) for b in blocks] or [base_blocks]
    sizes = [IMAGE_SIZE.check(s) for s in image_sizes] or [base_size]
    wanted = [(b, s) for b in letters for s in sizes if (b, s) != (base_blocks, base_size)]
    wanted = list(dict.fromkeys(wanted))  # repeated requests are measured once
    if not wanted:
        raise ValueError("nothing to compare: give blocks or image sizes that differ from the baseline")
    if len(wanted) > MAX_VARIANTS:
        raise ValueError(f"at most {MAX_VARIANTS} variants per comparison, got {len(wanted)}")
    plan = _Plan(
        resolve(device, dtype, channels_last),
        BATCH.check(batch),
        RUNS.check(runs),
        WARMUP.check(warmup),
        flag("train", train),  # "false" is refused, not truthy
        TRAIN_BATCH.check(train_batch),
        TRAIN_STEPS.check(train_steps),
    )
    configs = [(base_blocks, base_size), *wanted]
    if plan.train:
        for _, s in configs:  # fail before any measurement, not after the baseline
            check_train_batch(plan.train_batch, s)
    work = costs.Work(
        arch.name,
        tuple(configs),
        batch=plan.batch,
        runs=plan.runs,
        warmup=plan.warmup,
        train_batch=plan.train_batch if plan.train else 0,
        train_steps=plan.train_steps + TRAIN_WARMUP if plan.train else 0,
        device=str(plan.runtime.device),
        dtype=plan.runtime.dtype,
    )
    policy.check(work, "this comparison")
    results = []
    for i, (b, s) in enumerate(configs):
        part = sub_progress(progress, i / len(configs), (i + 1) / len(configs), f"{b} @ {s}px: ")
        results.append(_measure(arch.name, b, s, plan, part))
    return Comparison(results[0], results[1:])
