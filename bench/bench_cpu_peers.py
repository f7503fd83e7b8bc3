"""Our CPU fast path against what a user would pick instead: timm eager, torch.compile, ONNX Runtime, OpenVINO.

Same weights for all (timm's random init with BN calibrated at the image size, loaded into ours), same
process, interleaved run by run. The peers run timm's model: eager, under ``torch.compile`` (opt-in with
``--compile``: minutes on 2 cores; its compile time is reported), and timm's ONNX export (dynamo exporter,
dynamic batch) on ONNX Runtime and OpenVINO with the settings our backends use
(:func:`effnetv2.backends.load_runtime` with ``split=False``: as many threads as torch, ORT thread spinning
off, a batch run as one call, as a user would). Ours is
``choose_fast_path`` on the sample photos: whatever it picks on this machine (its backend is in the table),
plus our eager oneDNN model for reference.

Inputs are the sample photos (``assets/``) preprocessed at the model's size, repeated to fill a batch.
Every row has its logit error against timm eager fp32 (``effnetv2.logit_error``, % of the logit range),
its median latency and, at batch > 1, its throughput.

    python bench/bench_cpu_peers.py                                  # V2-S at 384 and B0 at 224, batch 1 and 8
    python bench/bench_cpu_peers.py --compile                        # + torch.compile (V2-S: minutes to compile)
    python bench/bench_cpu_peers.py --models b0 --batches 1 --size 64 --runs 3   # a smoke run

Prints a markdown table and writes JSON to bench/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from harness import TIMING_COLUMNS, interleaved_times, machine_info, markdown_table, summary, write_json

import effnetv2
from effnetv2 import backends as rt
from effnetv2.optimize import build_eager, gate_images
from effnetv2.testing import reference_pair

REFERENCE = "timm-eager"
PEERS = ("timm-eager", "timm-compile", "timm-onnxruntime", "timm-openvino", "timm-openvino-default")
OURS = ("ours-fast", "ours-eager")
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_bf16", "avx_vnni")
DEFAULT_SIZES = {"s": 384, "b0": 224}


def cpu_flags() -> list[str]:
    """The vector-unit flags that decide CPU kernels (/proc/cpuinfo), in a fixed order."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in FLAGS if f in flags]


def export_timm(model: torch.nn.Module, size: int, folder: Path) -> Path:
    """timm's model as a user would export it: dynamo exporter, dynamic batch, one file."""
    import contextlib
    import io
    import warnings

    path = folder / f"timm-{size}.onnx"
    batch = torch.export.Dim("batch", min=1, max=1024)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.zeros(2, 3, size, size),), str(path), dynamic_shapes={"x": {0: batch}}, dynamo=True
        )
    return path


def openvino_defaults(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """OpenVINO as a user calls it without settings: on a CPU with native bf16 (AVX-512 BF16, AMX) its CPU plugin
    then infers in bf16, which our backend forbids (``INFERENCE_PRECISION_HINT=f32``, an fp32 backend); the
    peer a user would pick there is this one, and its logit error is in the table."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU")
    return lambda x: torch.from_numpy(compiled(x.numpy())[0].copy())


def build(ref: torch.nn.Module, ours: torch.nn.Module, photos: torch.Tensor, args, folder: Path) -> dict[str, Any]:
    """name -> {"call": images -> logits, "how": text, ...setup facts} for every variant that runs here."""
    size = photos.shape[-1]
    out: dict[str, Any] = {REFERENCE: {"call": ref, "how": "timm eager fp32 (the reference)"}}
    if args.compile:
        # Static shapes, compiled afresh per model: with dynamo's default, the second model (same forward code,
        # other sizes) is recompiled with symbolic height and width and inductor spent 20+ minutes in sympy.
        torch._dynamo.reset()
        compiled = torch.compile(ref, dynamic=False)
        out["timm-compile"] = {"call": compiled, "how": "torch.compile(timm, dynamic=False), inductor", "compile_s": {}}
    installed = rt.available_runtimes()
    if installed:
        t0 = time.perf_counter()
        path = export_timm(ref, size, folder)
        export_s = time.perf_counter() - t0
        for name in installed:
            run = rt.load_runtime(name, path, split=False)  # as a user calls it
            out[f"timm-{name}"] = {"call": run, "how": f"{rt.RUNTIMES[name]} {installed[name]} on timm's ONNX"}
            out[f"timm-{name}"]["setup_s"] = export_s
        if "openvino" in installed:
            out["timm-openvino-default"] = {
                "call": openvino_defaults(path),
                "how": f"OpenVINO {installed['openvino']} on timm's ONNX with OpenVINO's own defaults",
                "setup_s": export_s,
            }
    t0 = time.perf_counter()
    fast = effnetv2.choose_fast_path(ours, photos)
    setup = time.perf_counter() - t0
    out["ours-fast"] = {
        "call": fast.model,
        "how": f"choose_fast_path: {fast.summary}",
        "setup_s": setup,
        "plan_from_cache": not fast.timings_ms,
        "choice_ms": fast.timings_ms,
        "rejected": fast.rejected,
    }
    out["ours-eager"] = {"call": build_eager(ours, device=torch.device("cpu")), "how": "ours eager oneDNN fp32"}
    return out


def bench_config(variants: dict[str, Any], photos: torch.Tensor, batch: int, args) -> list[dict[str, Any]]:
    x = photos[torch.arange(batch) % photos.shape[0]].contiguous()
    calls: dict[str, Callable[[], object]] = {name: (lambda f=v["call"]: f(x)) for name, v in variants.items()}
    load_before = os.getloadavg()
    with torch.inference_mode():
        if "timm-compile" in variants:  # compiled (and timed) for this batch size first
            t0 = time.perf_counter()
            calls["timm-compile"]()
            variants["timm-compile"]["compile_s"][batch] = time.perf_counter() - t0
        # accuracy on every photo at the timed batch shape: batch 1 alone would judge one photo only
        checks = [photos[(torch.arange(batch) + s) % photos.shape[0]] for s in range(0, photos.shape[0], batch)]
        wants = [variants[REFERENCE]["call"](c) for c in checks]
        errors = {
            name: max(effnetv2.logit_error(v["call"](c).float(), want) for c, want in zip(checks, wants, strict=True))
            for name, v in variants.items()
        }
        times = interleaved_times(calls, runs=args.runs, warmup=args.warmup, budget_s=args.budget)
    load = os.getloadavg()
    medians = {name: summary(times[name])["median_ms"] for name in calls}
    peers = [n for n in calls if n in PEERS and errors[n] <= effnetv2.ACCURATE_LOGIT_ERROR]  # the gate holds for peers
    best_peer = min(peers, key=medians.__getitem__)
    rows = []
    for name, v in variants.items():
        s = summary(times[name])
        row = {
            "variant": name,
            "how": v["how"],
            **s,
            "images_per_s": batch / s["median_ms"] * 1e3,
            "ratio": s["median_ms"] / medians[REFERENCE],
            "logit_error_pct": 100 * errors[name],
            "accurate": errors[name] <= effnetv2.ACCURATE_LOGIT_ERROR,
            "loadavg_1min": f"{load_before[0]:.1f}-{load[0]:.1f}",
        }
        if name in OURS:
            row["best_peer"] = best_peer
            row["ratio_best_peer"] = s["median_ms"] / medians[best_peer]
        if name == "ours-fast":
            model = v["call"]
            row["served_by"] = model.backend_for(batch) if hasattr(model, "backend_for") else "eager"
        if name == "timm-compile":
            row["compile_s"] = v["compile_s"].get(batch)
        rows.append(row)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["s", "b0"], help="V2 sizes: b0 b1 b2 b3 s m l xl")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--size", type=int, help="image size for every model (default: S 384, B0 224, else the arch's)")
    p.add_argument("--compile", action="store_true", help="add torch.compile(timm) (V2-S: minutes on 2 cores)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per variant (after warm-up)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--budget", type=float, default=120.0, help="seconds per model/batch: caps runs (>= 5)")
    p.add_argument("--threads", type=int, help="torch and runtime threads (default: torch's choice)")
    p.add_argument("--fresh", action="store_true", help="a new cache: export and choose again (else $EFFNETV2_CACHE)")
    p.add_argument("--json", help="output file (default: bench/results/bench_cpu_peers-<time>.json)")
    args = p.parse_args(argv)
    if min(args.batches) < 1 or args.runs < 1:
        p.error("batches and runs must be positive")
    return args


COLUMNS = [
    *TIMING_COLUMNS,
    ("images_per_s", "img/s"),
    ("ratio", "/ timm eager"),
    ("ratio_best_peer", "/ best peer"),
    ("logit_error_pct", "logit err % range"),
    ("served_by", "served by"),
    ("compile_s", "compile s"),
    ("loadavg_1min", "load 1 min"),
]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        if args.fresh:
            os.environ[rt.CACHE_ENV] = str(Path(tmp) / "cache")
        info = {**machine_info(), "cpu_flags": cpu_flags(), "runtimes": rt.available_runtimes()}
        results, setup = [], {}
        for size in args.models:
            image_size = args.size or DEFAULT_SIZES.get(size) or effnetv2.get_arch(f"efficientnetv2_{size}").image_size
            ref, ours = reference_pair(size, image_size)
            photos = gate_images(ours) if image_size == ours.arch.image_size else _photos_at(ours, image_size)
            variants = build(ref, ours, photos, args, Path(tmp))
            setup[size] = {n: {k: v for k, v in d.items() if k != "call"} for n, d in variants.items()}
            for batch in args.batches:
                for row in bench_config(variants, photos, batch, args):
                    results.append({"model": f"V2-{size.upper()}", "image_size": image_size, "batch": batch, **row})
                    print(".", end="", file=sys.stderr, flush=True)
            del variants, ref, ours
    print(file=sys.stderr)
    info["loadavg_end"] = os.getloadavg()
    print(
        f"{info['cpu']} ({' '.join(info['cpu_flags'])}), {info['logical_cpus']} logical CPUs, "
        f"{info['torch_threads']} threads, torch {info['torch']}, timm {info['timm']}, "
        f"{', '.join(f'{rt.RUNTIMES[k]} {v}' for k, v in info['runtimes'].items()) or 'no runtimes'}; "
        f"load average {info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f} (1 min)\n"
    )
    print(markdown_table(results, COLUMNS))
    print()
    for line in headline(results):
        print(line)
    for size, variants in setup.items():
        fast = variants["ours-fast"]
        print(
            f"V2-{size.upper()} fast path: {fast['how']}; chosen in {fast['setup_s']:.1f} s "
            f"({'plan from the disk cache' if fast['plan_from_cache'] else 'exported/timed now'})"
            + (f"; left out: {fast['rejected']}" if fast["rejected"] else "")
        )
    payload = {"command": sys.argv, "machine": info, "setup": setup, "results": results}
    path = write_json("bench_cpu_peers", payload, args.json)
    print(f"\nJSON: {path}")
    return 0


def _photos_at(model: torch.nn.Module, size: int) -> torch.Tensor:
    """The sample photos at another size than the model's own (smoke runs)."""
    return torch.nn.functional.interpolate(gate_images(model), size=(size, size), mode="bilinear", antialias=True)


def headline(results: list[dict[str, Any]]) -> list[str]:
    """Per model and batch: our fast path against the fastest peer, and who that was."""
    lines = []
    for row in results:
        if row["variant"] == "ours-fast":
            lines.append(
                f"{row['model']} batch {row['batch']}: ours-fast ({row.get('served_by')}) / {row['best_peer']} = "
                f"{row['ratio_best_peer']:.3f}, / timm eager = {row['ratio']:.3f}, "
                f"logit error {row['logit_error_pct']:.1e}% of range"
            )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
