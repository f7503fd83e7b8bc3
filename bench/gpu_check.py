"""V2-S throughput on a GPU in fp16/bf16, ours vs timm, same weights, one process, interleaved.

    python bench/gpu_check.py                       # CUDA: V2-S at 384, batch 1 and 64, fp16 and bf16
    python bench/gpu_check.py --device cpu --size 64 --batches 1 2 --dtypes bf16 --runs 2   # smoke run

timm's low-precision variant is the model cast with ``.to(dtype, memory_format=channels_last)`` (what a timm
user would do); ours is ``effnetv2.optimize_for_inference(model, dtype=..., device=...)``. Both are compared
with timm fp32 on the same images. CUDA timings synchronise before and after each call; cuDNN autotuning is
on for all variants. Prints a markdown table and writes JSON to bench/results/ (gitignored).
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable

import torch
from harness import interleaved_times, machine_info, markdown_table, summary, write_json

import effnetv2
from effnetv2.precision import DTYPES, check_dtype
from effnetv2.testing import reference_pair


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--model", default="s", help="V2 size (default: s)")
    p.add_argument("--size", type=int, help="image size (default: the checkpoint's test size, 384 for S)")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    p.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=["fp16", "bf16"])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--budget", type=float, default=60.0, help="seconds per batch size: caps runs (>= 5)")
    p.add_argument("--json", help="output file (default: bench/results/gpu_check-<time>.json)")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print("gpu_check: error: CUDA is not available here (use --device cpu for a smoke run)", file=sys.stderr)
        return 2
    if cuda:
        torch.backends.cudnn.benchmark = True
    try:
        for name in args.dtypes:
            check_dtype(name, device, "cast")
    except effnetv2.UnsupportedDtypeError as exc:
        print(f"gpu_check: error: {exc}", file=sys.stderr)
        return 2
    sync: Callable[[], None] | None = (lambda: torch.cuda.synchronize(device)) if cuda else None
    image_size = args.size or effnetv2.get_arch(f"efficientnetv2_{args.model}").image_size
    ref, ours = reference_pair(args.model, image_size, device=str(device))

    models: dict[str, tuple[torch.nn.Module, torch.dtype]] = {"timm-fp32": (ref, torch.float32)}
    for name in args.dtypes:
        dtype = DTYPES[name]
        models[f"timm-{name}"] = (copy.deepcopy(ref).to(dtype=dtype, memory_format=torch.channels_last), dtype)
        models[f"ours-{name}"] = (
            effnetv2.optimize_for_inference(ours, dtype=name, device=device, backend="eager"),
            torch.float32,
        )
    del ours

    info = machine_info(str(device))
    results = []
    for batch in args.batches:
        x = torch.randn(batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(batch)).to(device)
        inputs = {
            name: x.to(dtype).contiguous(memory_format=torch.channels_last)
            if name.startswith("timm-") and dtype != x.dtype
            else x
            for name, (_, dtype) in models.items()
        }
        calls = {name: (lambda m=model, xi=inputs[name]: m(xi)) for name, (model, _) in models.items()}
        with torch.inference_mode():
            reference = ref(x).float()
            errors = {name: effnetv2.logit_error(call().float(), reference) for name, call in calls.items()}
            times = interleaved_times(calls, runs=args.runs, warmup=args.warmup, budget_s=args.budget, sync=sync)
        for name in calls:
            s = summary(times[name])
            results.append(
                {
                    "model": f"V2-{args.model.upper()}",
                    "image_size": image_size,
                    "batch": batch,
                    "variant": name,
                    **s,
                    "images_per_s": batch / (s["median_ms"] / 1e3),
                    "logit_error_pct": 100 * errors[name],
                }
            )
        for name in args.dtypes:  # ours vs timm at the same precision
            ours_row, timm_row = (
                next(r for r in results if r["batch"] == batch and r["variant"] == v)
                for v in (f"ours-{name}", f"timm-{name}")
            )
            ours_row["speedup_vs_timm_same_dtype"] = ours_row["images_per_s"] / timm_row["images_per_s"]
        if cuda:
            torch.cuda.empty_cache()

    where = info.get("gpu") or info["cpu"]
    print(f"{where}, torch {info['torch']}, timm {info['timm']}, device {device}\n")
    columns = [
        ("model", "model"),
        ("image_size", "size"),
        ("batch", "batch"),
        ("variant", "variant"),
        ("median_ms", "median ms"),
        ("images_per_s", "images/s"),
        ("speedup_vs_timm_same_dtype", "ours / timm, same dtype"),
        ("logit_error_pct", "logit err % of range (vs timm fp32)"),
        ("runs", "runs"),
    ]
    print(markdown_table(results, columns))
    path = write_json("gpu_check", {"command": sys.argv, "machine": info, "results": results}, args.json)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
