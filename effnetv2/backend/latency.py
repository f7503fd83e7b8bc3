"""The Latency tab: per-stage latency of a (random-weight) model, every input bounded first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..config import Blocks
from ..devices import DTYPES
from ..errors import BoundsError
from ..measure import AUTO, available_threads, parse_threads
from ..profiling import Benchmark, Latency, Progress, benchmark
from .charts import describe
from .limits import BATCH, IMAGE_SIZE, LATENCY_POLICY, RUNS
from .strings import DEFAULT_LANGUAGE
from .verdicts import noise_text

DEFAULT_MODEL = "efficientnetv2_b0"
WARMUP = 2


def dtype_choices() -> list[str]:
    return list(DTYPES)


def thread_choices() -> list[str]:
    """ "auto", then every count from 1 to the cores this process may use."""
    return [AUTO, *(str(n) for n in range(1, available_threads() + 1))]


def facts(result: Latency, lang: str = DEFAULT_LANGUAGE) -> str:
    """The measurement's conditions and the machine's noise, under the chart."""
    return f"{describe(result)}\n\n{noise_text(result.conditions, lang)}"


def device_choices() -> list[str]:
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _choice(name: str, value: str, choices: list[str]) -> str:
    if value not in choices:
        raise BoundsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class LatencyReport:
    """What the Latency tab shows: the engine's measurement and the number of runs it was asked for."""

    benchmark: Benchmark

    @property
    def latency(self) -> Latency:
        return self.benchmark.latency

    def to_dict(self) -> dict:
        """The ``/latency`` endpoint's JSON: the CLI's ``bench --json`` keys plus ``runs``."""
        return {**self.benchmark.to_dict(), "runs": self.latency.runs}


def measure(
    blocks: Blocks,
    image_size: Any = IMAGE_SIZE.default,
    batch: Any = BATCH.default,
    runs: Any = RUNS.default,
    device: str = "auto",
    dtype: str = "fp32",
    threads: Any = AUTO,
    progress: Progress | None = None,
) -> LatencyReport:
    """Per-stage latency of ``blocks.model`` with those blocks; ``blocks`` comes parsed (``Blocks.parse``).

    Refused before anything runs when its estimated memory or time does not fit (``LATENCY_POLICY``)."""
    _choice("dtype", dtype, dtype_choices())
    _choice("device", device, device_choices())
    result = benchmark(
        blocks.model,
        blocks=blocks,
        image_size=IMAGE_SIZE.check(image_size, strict=True),
        batch=BATCH.check(batch, strict=True),
        runs=RUNS.check(runs, strict=True),
        warmup=WARMUP,
        device=device,
        dtype=dtype,
        threads=parse_threads(threads),
        progress=progress,
        policy=LATENCY_POLICY,
    )
    return LatencyReport(result)
