"""Shared benchmark plumbing: identical-weight model pairs, interleaved timing, tables, machine facts.

Timings on a shared machine drift (other processes, turbo, caches). Interleaving the variants run by run
(in a rotating order) exposes every variant to the same drift, and medians ignore the outliers; the loop is the
package's own measurement core (:mod:`effnetv2.measure`), the one the app and the CLI use.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import effnetv2
from effnetv2.measure import Schedule, interleave, timed
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
    """Seconds per call for each variant, timed by the package's measurement core
    (:func:`effnetv2.measure.interleave`): each warmed up until steady (at least ``warmup`` runs), then round by
    round in rotating order, ``runs`` rounds or fewer (never below ``min_runs``) once ``budget_s`` seconds of
    rounds are spent; ``sync`` waits for queued device work (CUDA) before a clock is read."""
    schedule = Schedule(
        min_rounds=min(min_runs, runs),
        max_rounds=runs,
        budget_s=math.inf if budget_s is None else budget_s,
        precision=0.0,  # a benchmark runs its rounds; the budget alone cuts them short
        min_warmup=warmup,
        max_warmup=max(warmup, 8),
    )
    timings = interleave({name: timed(call, sync or (lambda: None)) for name, call in calls.items()}, schedule)
    return {name: [ms / 1e3 for ms in timings.of(name)] for name in calls}


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
