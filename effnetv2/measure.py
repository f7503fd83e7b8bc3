"""The measurement core: configurations timed interleaved, with intervals, verdicts and noise controls.

Why: on a 2-core machine that other jobs share (a free Space, a classroom laptop) one run of a model can take
ten times another, and a comparison timed one configuration after the other measured the neighbours, not the
model (the Lab once reported MMMMMM 72% faster than FFFMMM; an A/A run showed the same stage at 380 and 50 ms).
Every timing comparison of the package goes through :func:`interleave`, and every difference it shows through
:func:`difference`:

- **warm-up until steady**: each configuration runs until a run lands within :data:`WARM_TOLERANCE` of the one
  before (a first run at a new shape pays for oneDNN primitives and allocations), at most ``max_warmup`` runs;
- **interleaved rounds**: every round runs every configuration once, in a rotating order, so that drift and a
  neighbour's bursts hit all of them alike;
- **rounds until the answer is tight**: at least ``min_rounds``; then more, until the 95% interval of every
  compared ratio is within ``precision`` of its value, ``max_rounds`` are done or ``budget_s`` is spent;
- **an interval for every number**: a median with a bootstrap 95% interval over rounds; a ratio of medians
  with a *paired* bootstrap (whole rounds are resampled, so what drift did to both sides in one round stays
  paired), :data:`BOOTSTRAP` resamples with a fixed seed (the same timings give the same interval);
- **a verdict that can say "can't tell"**: "faster" or "slower" only when the whole interval lies beyond
  :data:`RESOLUTION` from equal; otherwise "can't tell on this machine right now (noise +-N%)";
- **controls**: parts that are the same in both configurations (the same stage letters at the same input
  size) must measure the same; if one differs beyond :data:`CONTROL_TOLERANCE` (its interval entirely
  outside), the machine was too noisy for any verdict, and the verdict says which part showed it.

A "X% faster" always means the slower side takes X% more time than the faster one (a speed-up of 1 + X/100).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import cancel

TOTAL = "total"
"""The section every subject reports: the whole call (a forward pass end to end, a training step)."""
LEVEL = 0.95
BOOTSTRAP = 2000
RESOLUTION = 0.02
"""A difference within 2% is never called one: a shared 2-core machine does not resolve finer (A/A runs here
drift by about that much between two halves of one run, bench/measurement_trust.py)."""
CONTROL_TOLERANCE = 0.10
"""A control (a part that is the same in both configurations) may measure up to 10% apart without making the
comparison "too noisy": caches and the allocator see different neighbours around the same stage."""
WARM_TOLERANCE = 0.05

FASTER, SLOWER, CANT_TELL, TOO_NOISY = "faster", "slower", "can't tell", "too noisy"
VERDICTS = (FASTER, SLOWER, CANT_TELL, TOO_NOISY)

Sample = Mapping[str, float]
"""One call's times in ms per section: always :data:`TOTAL`, and e.g. ``stem``, ``stage1``, ... ``head``."""
Progress = Callable[[float, str], None]


# --- statistics -----------------------------------------------------------------------------------------------


def _rng() -> np.random.Generator:
    return np.random.default_rng(20210401)  # fixed: the same timings always give the same interval


def _resample(n: int) -> np.ndarray:
    return _rng().integers(0, n, size=(BOOTSTRAP, n))


def _bounds(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Interval:
    """A median (ms, or a ratio) with its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    @property
    def noise(self) -> float:
        """Half the interval's width relative to the value: "+-N%" as a fraction."""
        return (self.high - self.low) / 2 / self.value if self.value else math.inf

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def median_interval(samples: Sequence[float]) -> Interval:
    """The median of ``samples`` with a bootstrap 95% interval (a single sample: a zero-width one)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    med = float(np.median(x))
    if x.size == 1:
        return Interval(med, med, med)
    lo, hi = _bounds(np.median(x[_resample(x.size)], axis=1))
    return Interval(med, min(lo, med), max(hi, med))


def ratio_interval(baseline: Sequence[float], variant: Sequence[float]) -> Interval:
    """median(variant) / median(baseline), with a paired bootstrap 95% interval over rounds.

    ``baseline[i]`` and ``variant[i]`` come from the same round: resampling rounds keeps them together."""
    a, b = np.asarray(baseline, dtype=np.float64), np.asarray(variant, dtype=np.float64)
    if a.size != b.size or a.size == 0:
        raise ValueError(f"paired samples needed, got {a.size} and {b.size}")
    value = float(np.median(b) / np.median(a))
    if a.size == 1:
        return Interval(value, value, value)
    idx = _resample(a.size)
    lo, hi = _bounds(np.median(b[idx], axis=1) / np.median(a[idx], axis=1))
    return Interval(value, min(lo, value), max(hi, value))


# --- verdicts -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    """A part measured in both configurations that is the same architecture: its ratio should be 1."""

    name: str
    ratio: Interval

    @property
    def disagrees(self) -> bool:
        return self.ratio.low > 1 + CONTROL_TOLERANCE or self.ratio.high < 1 / (1 + CONTROL_TOLERANCE)

    def to_dict(self) -> dict:
        return {"name": self.name, "ratio": self.ratio.to_dict(), "disagrees": self.disagrees}


@dataclass(frozen=True)
class Difference:
    """How ``variant`` compares with ``baseline`` on one measure (latency, a training step), with its verdict.

    ``ratio`` is variant time / baseline time. ``verdict`` is one of :data:`VERDICTS`; ``reason`` says which
    control made it "too noisy"."""

    measure: str
    baseline: str
    variant: str
    ratio: Interval
    verdict: str
    controls: tuple[Control, ...] = ()
    reason: str = ""

    @property
    def percent(self) -> tuple[float, float, float]:
        """(value, low, high) of "X% faster" (a verdict of faster) or "X% slower" (otherwise), in percent."""
        r = self.ratio
        if self.verdict == FASTER:
            return 100 * (1 / r.value - 1), 100 * (1 / r.high - 1), 100 * (1 / r.low - 1)
        return 100 * (r.value - 1), 100 * (r.low - 1), 100 * (r.high - 1)

    @property
    def noise_pct(self) -> float:
        return 100 * self.ratio.noise

    def sentence(self) -> str:
        """The verdict in words (English; the app translates through ``ui_text``)."""
        head = f"{self.measure}: {self.variant} vs {self.baseline}"
        if self.verdict in (FASTER, SLOWER):
            x, lo, hi = self.percent
            return f"{head}: {x:.0f}% {self.verdict} (95% interval {lo:.0f}-{hi:.0f}%)"
        if self.verdict == TOO_NOISY:
            return f"{head}: too noisy to tell: {self.reason}"
        return f"{head}: can't tell on this machine right now (noise +-{self.noise_pct:.0f}%)"

    def to_dict(self) -> dict:
        x, lo, hi = self.percent
        return {
            "measure": self.measure,
            "baseline": self.baseline,
            "variant": self.variant,
            "ratio": self.ratio.to_dict(),
            "verdict": self.verdict,
            "percent": {"value": x, "low": lo, "high": hi},
            "noise_pct": self.noise_pct,
            "reason": self.reason,
            "controls": [c.to_dict() for c in self.controls],
            "sentence": self.sentence(),
        }


def verdict_of(ratio: Interval, controls: Sequence[Control] = (), agreement: str = "") -> tuple[str, str]:
    """(verdict, reason) for a ratio of times (variant / baseline) and the controls measured beside it.

    ``agreement`` is a non-empty reason when a configuration's stage sum disagreed with its end-to-end time."""
    bad = [c for c in controls if c.disagrees]
    if bad:
        worst = max(bad, key=lambda c: abs(math.log(c.ratio.value)))
        pct = 100 * (worst.ratio.value - 1)
        return TOO_NOISY, f"{worst.name} is the same in both and measured {pct:+.0f}% apart"
    if agreement:
        return TOO_NOISY, agreement
    if ratio.high < 1 / (1 + RESOLUTION):
        return FASTER, ""
    if ratio.low > 1 + RESOLUTION:
        return SLOWER, ""
    return CANT_TELL, ""


# --- the schedule and the interleaved loop --------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """How long to measure: at least ``min_rounds``, then until every compared ratio is within ``precision``
    (half its 95% interval, relative), ``max_rounds`` or ``budget_s`` seconds of timed rounds."""

    min_rounds: int = 5
    max_rounds: int = 30
    budget_s: float = 10.0
    precision: float = 0.02
    min_warmup: int = 1
    max_warmup: int = 8

    @classmethod
    def fixed(cls, runs: int, warmup: int) -> Schedule:
        """Exactly ``runs`` rounds after at least ``warmup`` warm-up runs (a user asked for a number of runs)."""
        return cls(runs, runs, math.inf, 0.0, max(warmup, 0), max(warmup, 8))


LATENCY_SCHEDULE = Schedule(min_rounds=5, max_rounds=100, budget_s=6.0, precision=0.02)
"""Comparisons of forward passes: at least 5 rounds, then until every ratio's interval is within +-2%, 100
rounds or 6 s of timed rounds (the Lab at its defaults: about 20-30 s in all on 2 quiet cores)."""
TRAINING_SCHEDULE = Schedule(min_rounds=5, max_rounds=15, budget_s=12.0, precision=0.03, max_warmup=4)
"""Comparisons of training steps: a step takes 0.1-1 s on 2 cores, so fewer rounds than latency, within 12 s."""


@dataclass
class Timings:
    """Per subject and section, the ms of every timed round (index i of every list = round i)."""

    samples: dict[str, dict[str, list[float]]]
    warmup: dict[str, int]
    rounds: int = 0
    seconds: float = 0.0
    stopped: str = ""
    """Why the rounds stopped: "precision", "max rounds" or "budget"."""

    def of(self, subject: str, section: str = TOTAL) -> list[float]:
        return self.samples[subject][section]

    def median(self, subject: str, section: str = TOTAL) -> Interval:
        return median_interval(self.of(subject, section))

    def ratio(self, baseline: str, variant: str, section: str = TOTAL) -> Interval:
        return ratio_interval(self.of(baseline, section), self.of(variant, section))


def _notify(progress: Progress | None, fraction: float, text: str) -> None:
    cancel.check()  # an abandoned job stops at the next run
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), text)


def _warm(name: str, call: Callable[[], Sample], schedule: Schedule, progress: Progress | None) -> int:
    """Untimed runs until one lands within :data:`WARM_TOLERANCE` of the one before; returns how many ran.

    At most ``max_warmup`` runs, and (past ``min_warmup``) at most a quarter of the schedule's budget: a large
    model on a busy machine may never run steadily, and its warm-up must not take longer than its rounds."""
    previous, spent = None, 0.0
    for i in range(1, schedule.max_warmup + 1):
        ms = call()[TOTAL]
        spent += ms / 1e3
        _notify(progress, 0.0, f"{name}: warm-up {i}")
        if i >= schedule.min_warmup:
            if previous is not None and abs(ms - previous) <= WARM_TOLERANCE * previous:
                return i
            if spent > schedule.budget_s / 4:
                return i
        previous = ms
    return schedule.max_warmup


def interleave(
    subjects: Mapping[str, Callable[[], Sample]],
    schedule: Schedule = Schedule(),
    *,
    pairs: Sequence[tuple[str, str]] = (),
    progress: Progress | None = None,
) -> Timings:
    """Time every subject once per round, rotating the order, after warming each up (see the module's text).

    ``pairs`` are the (baseline, variant) ratios whose precision decides when to stop (default: the first
    subject against each other one; a single subject: its own median)."""
    names = list(subjects)
    if not names:
        raise ValueError("nothing to measure")
    if not pairs and len(names) > 1:
        pairs = [(names[0], n) for n in names[1:]]
    warm = {n: _warm(n, subjects[n], schedule, progress) for n in names}
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    timings = Timings(samples, warm)
    start = time.perf_counter()
    while True:
        r = timings.rounds
        for name in names[r % len(names) :] + names[: r % len(names)]:
            for section, ms in subjects[name]().items():
                samples[name].setdefault(section, []).append(ms)
        timings.rounds += 1
        timings.seconds = time.perf_counter() - start
        stop = _stop(timings, schedule, pairs, names)
        done = 1.0 if stop else max(timings.rounds / schedule.max_rounds, timings.seconds / schedule.budget_s)
        _notify(progress, done, f"round {timings.rounds}/{schedule.max_rounds}")
        if stop:
            timings.stopped = stop
            return timings


def _stop(t: Timings, s: Schedule, pairs: Sequence[tuple[str, str]], names: list[str]) -> str:
    if t.rounds < s.min_rounds:
        return ""
    if t.rounds >= s.max_rounds:
        return "max rounds"
    if t.seconds >= s.budget_s:
        return "budget"
    widths = [t.ratio(a, b).noise for a, b in pairs] if pairs else [t.median(names[0]).noise]
    return "precision" if max(widths) <= s.precision else ""


def timed(call: Callable[[], object], synchronize: Callable[[], None] = lambda: None) -> Callable[[], Sample]:
    """A plain call as a subject: its wall time in ms as :data:`TOTAL` (``synchronize`` waits for a GPU)."""

    def run() -> Sample:
        synchronize()
        t0 = time.perf_counter()
        call()
        synchronize()
        return {TOTAL: (time.perf_counter() - t0) * 1e3}

    return run


# --- the machine: noise and threads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Threads:
    """The thread count a measurement used and why: asked for, or chosen by timing 1 against all threads."""

    count: int
    reason: str
    one_ms: float | None = None
    all_ms: float | None = None

    def to_dict(self) -> dict:
        return {"count": self.count, "reason": self.reason, "one_ms": self.one_ms, "all_ms": self.all_ms}


AUTO = "auto"
THREAD_GAIN = 0.85
"""All threads are used only when they take at most 85% of one thread's time: on a loaded 2-core machine two
OpenMP threads waiting on each other made a forward 7-18x slower than one thread."""


def available_threads() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def parse_threads(value: object) -> int | str:
    """``"auto"``, or a thread count from 1 to the cores available; anything else is a one-line error."""
    from .errors import BoundsError

    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    top = available_threads()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BoundsError(f"threads must be auto or 1-{top}, got {value!r}")
    try:
        n = int(str(value).strip()) if isinstance(value, str) else int(value)
    except ValueError:
        raise BoundsError(f"threads must be auto or 1-{top}, got {value!r}") from None
    if (n != value and not isinstance(value, str)) or not 1 <= n <= top:
        raise BoundsError(f"threads must be auto or 1-{top}, got {value!r}")
    return n


def choose_threads(call: Callable[[], object], requested: int | str = AUTO, rounds: int = 3) -> Threads:
    """The thread count for ``call``: the one asked for, or (``"auto"``) 1 or all, by timing both now.

    Sets it with ``torch.set_num_threads``; :func:`threads_used` restores the previous count afterwards."""
    top = available_threads()
    if requested != AUTO:
        torch.set_num_threads(int(requested))
        return Threads(int(requested), "asked for")
    if top == 1:
        torch.set_num_threads(1)
        return Threads(1, "one core available")
    times: dict[int, list[float]] = {1: [], top: []}
    for n in (1, top):  # warm both
        torch.set_num_threads(n)
        call()
    for r in range(rounds):
        for n in (1, top) if r % 2 == 0 else (top, 1):
            torch.set_num_threads(n)
            times[n].append(timed(call)()[TOTAL])
    one, every = float(np.median(times[1])), float(np.median(times[top]))
    count = top if every <= THREAD_GAIN * one else 1
    torch.set_num_threads(count)
    why = f"{top} threads took {every:.1f} ms, 1 thread {one:.1f} ms just now"
    return Threads(count, why, one, every)


@contextlib.contextmanager
def threads_used(call: Callable[[], object], requested: int | str = AUTO) -> Iterator[Threads]:
    """Runs the ``with`` block at :func:`choose_threads`'s count, restoring torch's thread count afterwards
    (the app's torch thread serves other requests next)."""
    before = torch.get_num_threads()
    try:
        yield choose_threads(call, requested)
    finally:
        torch.set_num_threads(before)


QUIET, BUSY = 1.2, 2.0
"""Thresholds of :attr:`Noise.spread`: below 1.2 the machine is quiet, below 2 busy, else very busy."""


@dataclass(frozen=True)
class Noise:
    """How busy the machine was before a measurement: load average, and the spread of identical runs."""

    load: float | None
    cores: int
    spread: float
    """p90 / p10 of :data:`NOISE_RUNS` identical small convolutions: 1.0 is a machine that does nothing else;
    on a 2-core machine shared with a busy job it reached 10 and more."""
    threads: Threads | None = None

    @property
    def level(self) -> str:
        return "quiet" if self.spread < QUIET else "busy" if self.spread < BUSY else "very busy"

    def line(self) -> str:
        load = "load n/a" if self.load is None else f"load average {self.load:.1f} on {self.cores} cores"
        text = f"machine {self.level}: {load}, identical runs vary {self.spread:.1f}x (p90/p10)"
        if self.threads is not None:
            text += f"; {self.threads.count} thread{'s' if self.threads.count > 1 else ''} ({self.threads.reason})"
        return text

    def to_dict(self) -> dict:
        return {
            "load": self.load,
            "cores": self.cores,
            "spread": self.spread,
            "level": self.level,
            "threads": None if self.threads is None else self.threads.to_dict(),
            "line": self.line(),
        }


NOISE_RUNS = 9


def machine_noise(threads: Threads | None = None) -> Noise:
    """A 50-100 ms probe: the same small convolution :data:`NOISE_RUNS` times, and the load average."""
    x = torch.randn(1, 32, 56, 56)
    w = torch.randn(32, 32, 3, 3)
    with torch.inference_mode():
        run = timed(lambda: torch.nn.functional.conv2d(x, w, padding=1))
        run()
        ms = np.asarray([run()[TOTAL] for _ in range(NOISE_RUNS)])
    p10, p90 = np.percentile(ms, [10, 90])
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:
        load = None
    return Noise(load, available_threads(), float(p90 / p10), threads)


@dataclass(frozen=True)
class Conditions:
    """Threads and noise of one measurement, for its report."""

    noise: Noise
    rounds: int
    warmup: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str = ""

    def to_dict(self) -> dict:
        return {"noise": self.noise.to_dict(), "rounds": self.rounds, "warmup": self.warmup,
                "seconds": self.seconds, "stopped": self.stopped}  # fmt: skip


def difference(
    timings: Timings,
    measure: str,
    baseline: str,
    variant: str,
    *,
    controls: Sequence[str] = (),
    agreement: str = "",
) -> Difference:
    """``variant`` against ``baseline`` on their :data:`TOTAL` times, with the verdict of :func:`verdict_of`.

    ``controls`` name the sections that are the same architecture in both (checked to measure the same);
    ``agreement`` is a reason to call the comparison too noisy found elsewhere (a stage sum that disagrees)."""
    ratio = timings.ratio(baseline, variant)
    checked = tuple(Control(name, timings.ratio(baseline, variant, name)) for name in controls)
    verdict, reason = verdict_of(ratio, checked, agreement)
    return Difference(measure, baseline, variant, ratio, verdict, checked, reason)
