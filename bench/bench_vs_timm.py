"""This project's EfficientNetV2 against timm's tf_efficientnetv2_*, same weights, same process, interleaved.

For each model and batch size: median latency of every variant, its ratio to timm fp32 (the reference) and to
timm's best eager setting in the same precision ("like for like": ours fp32 against timm channels_last fp32,
ours bf16 against timm channels_last + autocast bf16), and its largest logit difference from timm fp32 as a
fraction of the logit range (worst image of the batch). "Accurate" means at most 2%
(``effnetv2.ACCURATE_LOGIT_ERROR``). Reduced-precision variants run only on a CPU with native units for them
(``effnetv2.dtype_support``); elsewhere their rows say why they were not run.

    python bench/bench_vs_timm.py                                     # B0, S, M at batch 1 and 8
    python bench/bench_vs_timm.py --models s --batches 1 --runs 30    # the headline number only
    python bench/bench_vs_timm.py --models b0 --batches 1 --size 64 --runs 3   # a smoke run (seconds)

Prints a markdown table and writes JSON to bench/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from harness import TIMING_COLUMNS, interleaved_times, machine_info, markdown_table, summary, write_json

import effnetv2
from effnetv2.precision import DTYPES
from effnetv2.testing import reference_pair


@dataclass(frozen=True)
class Variant:
    """One column of the comparison: whose model, in which precision, run how."""

    impl: str  # "timm" or "ours"
    dtype: str
    how: str
    channels_last: bool = False
    autocast: bool = False
    optimized: bool = False


VARIANTS: dict[str, Variant] = {
    "timm-fp32": Variant("timm", "fp32", "timm eager, plain (the reference)"),
    "timm-fp32-cl": Variant("timm", "fp32", "timm eager, channels_last", channels_last=True),
    "timm-bf16": Variant("timm", "bf16", "timm eager, channels_last + autocast bf16", True, autocast=True),
    "ours-eager": Variant("ours", "fp32", "this project's model, plain eager"),
    "ours-fp32": Variant("ours", "fp32", "optimize_for_inference fp32", optimized=True),
    "ours-bf16": Variant("ours", "bf16", "optimize_for_inference bf16", optimized=True),
    "ours-fp16": Variant("ours", "fp16", "optimize_for_inference fp16", optimized=True),
}
DEFAULT_VARIANTS = ("timm-fp32", "timm-fp32-cl", "timm-bf16", "ours-eager", "ours-fp32", "ours-bf16")
REFERENCE = "timm-fp32"


def skip_reason(variant: Variant) -> str | None:
    """Why a reduced-precision variant is not timed on this CPU (None: it is).

    Where the CPU has no native units, our cast model is refused and timm's autocast runs emulated, several
    times slower than fp32: timing either would compare nothing a user would choose.
    """
    if variant.dtype == "fp32":
        return None
    support = effnetv2.dtype_support("cpu")[variant.dtype]
    return None if support.fast else support.note


def build_variants(ref: torch.nn.Module, ours: torch.nn.Module, names: list[str]) -> dict[str, Any]:
    """name -> (forward callable taking fp32 images, channels_last input?) for every variant this CPU runs."""
    out: dict[str, Any] = {}
    for name in names:
        v = VARIANTS[name]
        if skip_reason(v):
            continue
        if v.impl == "timm":
            model = copy.deepcopy(ref).to(memory_format=torch.channels_last) if v.channels_last else ref
            if v.autocast:
                dtype = DTYPES[v.dtype]

                def forward(x, m=model, dtype=dtype):
                    with torch.autocast("cpu", dtype=dtype):
                        return m(x)

                out[name] = (forward, v.channels_last)
            else:
                out[name] = (model, v.channels_last)
        elif v.optimized:
            out[name] = (effnetv2.optimize_for_inference(ours, dtype=v.dtype, backend="eager"), False)
        else:
            out[name] = (ours, False)
    return out


def like_for(name: str, names: list[str]) -> str | None:
    """timm's variant to compare ``name`` with, like for like: the same precision, timm's best eager setting."""
    v = VARIANTS[name]
    if v.impl != "ours":
        return None
    if name == "ours-eager":
        return REFERENCE
    if v.dtype == "fp32":
        return "timm-fp32-cl" if "timm-fp32-cl" in names else REFERENCE
    peer = f"timm-{v.dtype}"
    return peer if peer in VARIANTS and peer in names else None


def bench_config(
    variants: dict[str, Any], image_size: int, batch: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(batch))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    calls: dict[str, Callable[[], object]] = {
        name: (lambda m=model, xi=(x_cl if cl else x): m(xi)) for name, (model, cl) in variants.items()
    }
    with torch.inference_mode():
        reference = calls[REFERENCE]()
        errors = {name: effnetv2.logit_error(calls[name]().float(), reference) for name in calls}
        times = interleaved_times(calls, runs=args.runs, warmup=args.warmup, budget_s=args.budget)
    medians = {name: summary(times[name])["median_ms"] for name in calls}
    rows = []
    for name in args.variants:
        v = VARIANTS[name]
        reason = skip_reason(v)
        if reason:
            rows.append({"variant": name, "dtype": v.dtype, "how": v.how, "skipped": reason})
            continue
        s = summary(times[name])
        peer = like_for(name, list(calls))
        rows.append(
            {
                "variant": name,
                "dtype": v.dtype,
                "how": v.how,
                **s,
                "ratio": s["median_ms"] / medians[REFERENCE],
                "like_for_like": peer,
                "ratio_like": s["median_ms"] / medians[peer] if peer else None,
                "logit_error_pct": 100 * errors[name],
                "accurate": errors[name] <= effnetv2.ACCURATE_LOGIT_ERROR,
            }
        )
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["b0", "s", "m"], help="V2 sizes: b0 b1 b2 b3 s m l xl")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS))
    p.add_argument("--runs", type=int, default=20, help="timed runs per variant (after warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    p.add_argument("--budget", type=float, default=90.0, help="seconds per model/batch: caps runs (>= 5)")
    p.add_argument("--size", type=int, help="image size for every model (default: each checkpoint's test size)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--json", help="output file (default: bench/results/bench_vs_timm-<time>.json)")
    args = p.parse_args(argv)
    if REFERENCE not in args.variants:
        args.variants.insert(0, REFERENCE)
    if min(args.batches) < 1 or args.runs < 1:
        p.error("batches and runs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    results = []
    for size in args.models:
        image_size = args.size or effnetv2.get_arch(f"efficientnetv2_{size}").image_size
        ref, ours = reference_pair(size, image_size)
        variants = build_variants(ref, ours, args.variants)
        for batch in args.batches:
            for row in bench_config(variants, image_size, batch, args):
                results.append({"model": f"V2-{size.upper()}", "image_size": image_size, "batch": batch, **row})
                print(".", end="", file=sys.stderr, flush=True)
        del variants, ref, ours
    print(file=sys.stderr)
    info["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    columns = [
        *TIMING_COLUMNS,
        ("ratio", "/ timm-fp32"),
        ("like_for_like", "like for like"),
        ("ratio_like", "/ like"),
        ("logit_error_pct", "logit err % of range"),
        ("accurate", "accurate"),
        ("skipped", "not run"),
    ]
    print(
        f"{info['cpu']}, {info['logical_cpus']} logical CPUs, {info['torch_threads']} torch threads, "
        f"torch {info['torch']}, timm {info['timm']}, load {info['loadavg_start']} -> {info['loadavg_end']}\n"
    )
    print(markdown_table(results, columns))
    print()
    for line in headline(results):
        print(line)
    path = write_json("bench_vs_timm", {"command": sys.argv, "machine": info, "results": results}, args.json)
    print(f"\nJSON: {path}")
    return 0


def headline(results: list[dict[str, Any]]) -> list[str]:
    """Per model and batch: ours fp32 / timm fp32 and the fastest accurate ours / timm fp32."""
    lines = []
    for key in dict.fromkeys((r["model"], r["batch"]) for r in results):
        rows = [r for r in results if (r["model"], r["batch"]) == key]
        ours = [r for r in rows if r["variant"].startswith("ours-") and r.get("accurate")]
        fp32 = next((r for r in rows if r["variant"] == "ours-fp32"), None)
        parts = [f"{key[0]} batch {key[1]}:"]
        if fp32:
            parts.append(f"ours-fp32/timm-fp32 = {fp32['ratio']:.3f};")
        if ours:
            best = min(ours, key=lambda r: r["median_ms"])
            parts.append(
                f"fastest accurate ours = {best['variant']} at {best['ratio']:.3f} x timm-fp32 "
                f"(logit error {best['logit_error_pct']:.2f}% of range)"
            )
        lines.append(" ".join(parts))
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
