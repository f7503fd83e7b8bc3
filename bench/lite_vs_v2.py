"""EfficientNet-Lite0 vs EfficientNetV2-B0 on this CPU: parameters, MACs, latency at 224 px, batch 1.

    python bench/lite_vs_v2.py [--rounds 5] [--runs 20] [--threads N] [--json FILE]

Parameters and MACs come from ``effnetv2.stats``; latency from ``effnetv2.profiling.stage_latency`` (median of
``--runs`` timed forwards after 3 warm-up runs, fp32, eval mode, inference mode), for the plain model and for
the fast path (``optimize_for_inference``, fp32). Both models are measured in alternating rounds so that a
change in the machine's load hits both alike; the table gives the median of the round medians and their range
(min-max). Weights are random: speed does not depend on their values. Prints the CPU model and the 1-minute
load average before and after, since other work on the machine inflates every figure. On cores shared with
other busy processes use ``--threads 1``: with more threads than free cores every operator waits at a barrier
for a parked thread, and the figures measure the scheduler (docs/real-weights.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

from effnetv2 import create_model, optimize_for_inference, stats
from effnetv2.devices import resolve
from effnetv2.precision import cpu_name
from effnetv2.profiling import stage_latency

MODELS = ("efficientnet_lite0", "efficientnetv2_b0")
SIZE = 224


def load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runtime = resolve("cpu", "fp32")
    nets = {}
    for name in MODELS:
        plain = create_model(name).eval()
        nets[(name, "plain")] = plain
        nets[(name, "fast path")] = optimize_for_inference(plain, backend="eager")
    before = load()
    medians: dict[tuple[str, str], list[float]] = {key: [] for key in nets}
    for _ in range(args.rounds):
        for key, net in nets.items():
            lat = stage_latency(net, batch=1, image_size=SIZE, runs=args.runs, warmup=3, runtime=runtime)
            medians[key].append(lat.total_ms)
    after = load()

    rows = []
    for name in MODELS:
        s = stats(name, image_size=SIZE)
        row = {"model": name, "params": s.params, "macs": s.macs}
        for path in ("plain", "fast path"):
            ms = medians[(name, path)]
            row[path] = {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms)}
        rows.append(row)
    context = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "image_size": SIZE,
        "batch": 1,
        "dtype": "fp32",
        "rounds": args.rounds,
        "runs_per_round": args.runs,
        "load_1min_before": before,
        "load_1min_after": after,
    }
    print(
        f"{context['cpu']}, {context['cores']} cores, {context['threads']} torch threads, torch {torch.__version__}; "
        f"{SIZE} px, batch 1, fp32; {args.rounds} alternating rounds x {args.runs} runs; "
        f"1-min load average {before:.2f} before, {after:.2f} after"
    )
    print("| model | params | GMACs | plain ms (range) | fast path ms (range) |\n|---|---|---|---|---|")
    for r in rows:
        p, f = r["plain"], r["fast path"]
        print(
            f"| {r['model']} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e9:.3f} | {p['median_ms']:.1f} "
            f"({p['min_ms']:.1f}-{p['max_ms']:.1f}) | {f['median_ms']:.1f} ({f['min_ms']:.1f}-{f['max_ms']:.1f}) |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"context": context, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
