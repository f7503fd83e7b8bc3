"""Shared benchmark plumbing: identical-weight model pairs, interleaved timing, tables, machine facts.

Timings on a shared machine drift (other processes, turbo, caches). Interleaving the variants run by run
(in a rotating order) exposes every variant to the same drift, and medians ignore the outliers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import effnetv2
from effnetv2.precision import cpu_name

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "bench" / "results"


def interleaved_times(
    calls: dict[str, Callable[[], object]],
    *,
    runs: int,
    warmup: int = 2,
    budget_s: float | None = None,
    min_runs: int = 5,
    sync: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call for each variant, run by run in rotating order (after ``warmup`` untimed rounds).

    ``budget_s`` caps the number of runs from the warm-up's pace (never below ``min_runs``); ``sync`` waits
    for queued device work (CUDA) before a clock is read.
    """
    names = list(calls)
    sync = sync or (lambda: None)
    start = time.perf_counter()
    for _ in range(max(warmup, 1)):
        for name in names:
            calls[name]()
        sync()
    per_round = (time.perf_counter() - start) / max(warmup, 1)
    if budget_s is not None and per_round > 0:
        runs = max(min_runs, min(runs, int(budget_s / per_round)))
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync()
            t0 = time.perf_counter()
            calls[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """Median and interquartile range in milliseconds."""
    ms = sorted(s * 1e3 for s in seconds)
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "p25_ms": q[0], "p75_ms": q[2], "runs": len(ms)}


TIMING_COLUMNS: list[tuple[str, str]] = [
    ("model", "model"),
    ("image_size", "size"),
    ("batch", "batch"),
    ("variant", "variant"),
    ("median_ms", "median ms"),
    ("p25_ms", "p25"),
    ("p75_ms", "p75"),
    ("runs", "runs"),
]
"""The leading columns of every CPU benchmark table: what was run and its median with the interquartile range."""


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns``: (key, header) pairs; floats are shown with up to 3 significant decimals."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(k, "")) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def machine_info(device: str = "cpu") -> dict[str, Any]:
    import timm

    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_reduced_precision": {
            k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(effnetv2.cpu_capabilities()).items()
        },
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_json(prefix: str, payload: dict[str, Any], path: str | None = None) -> Path:
    """Write to ``path`` or to bench/results/<prefix>-<UTC time>.json (a gitignored folder)."""
    out = Path(path) if path else RESULTS / f"{prefix}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out
