"""The analysis engine on a GPU: CUDA-event stage timings vs torch.utils.benchmark, fp16/bf16, training, Grad-CAM.

    python bench/gpu_engine_check.py                     # CUDA (the point of this script)
    python bench/gpu_engine_check.py --device cpu --models efficientnetv2_b0 --image-size 64 --runs 3   # smoke

For each model: (1) per-stage latency with CUDA events recorded in forward hooks, one synchronize at the end
(``effnetv2.profiling``), against ``torch.utils.benchmark.Timer`` for the whole model without hooks: the
end-to-end medians must agree within 15% and the stage sum with our end-to-end within 10%; (2) the same in
fp16 and bf16 autocast, with the logits' error against fp32 as a fraction of the logit range (at most 2% passes;
BN is calibrated at the run size, so the comparison means something); (3) training images/s in fp32 and bf16;
(4) Grad-CAM on the last stage as a multiple of a forward pass. Exit status 1 if an agreement check fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.utils.benchmark as tbench

ROOT = Path(__file__).resolve().parents[1]

from effnetv2 import ACCURATE_LOGIT_ERROR, create_model, logit_error  # noqa: E402
from effnetv2.devices import DTYPES, resolve  # noqa: E402
from effnetv2.errors import UnsupportedDtypeError  # noqa: E402
from effnetv2.gradcam import grad_cam  # noqa: E402
from effnetv2.profiling import stage_latency, training_throughput  # noqa: E402
from effnetv2.testing.reference import calibrate_bn  # noqa: E402

TIMER_AGREEMENT = 0.15


def timer_median_ms(model, x, runtime, runs: int) -> float:
    """torch.utils.benchmark's median for the whole model (it synchronizes CUDA itself)."""

    def run():
        with torch.inference_mode(), runtime.autocast():
            model(x)

    t = tbench.Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
    return t.timeit(runs).median * 1e3


def check_model(name: str, args, report: dict) -> bool:
    ok = True
    model = create_model(name)
    size = args.image_size or model.arch.image_size
    # Realistic BN statistics, calibrated at the size the model runs at: calibrated at another size, the deep
    # stages blow up, fp32 itself disagrees with fp64 and no logit comparison means anything.
    calibrate_bn(model, size=size)
    base = resolve(args.device)
    x = base.input(torch.randn(args.batch, 3, size, size, generator=torch.Generator().manual_seed(0)))
    base.prepare(model)
    with torch.inference_mode():
        ref = model(x).float()
    rows = {}
    for dtype in DTYPES:
        try:
            rt = resolve(args.device, dtype)
        except UnsupportedDtypeError as exc:
            rows[dtype] = {"skipped": str(exc)}
            print(f"  {dtype}: skipped ({exc})")
            continue
        lat = stage_latency(model, batch=args.batch, image_size=size, runs=args.runs, warmup=5, runtime=rt)
        timer = timer_median_ms(model, x, rt, args.runs)
        with torch.inference_mode(), rt.autocast():
            out = model(x).float()
        error = logit_error(out, ref)  # the project's metric: fraction of each image's logit range
        agree_timer = abs(lat.total_ms / timer - 1) <= TIMER_AGREEMENT
        ok &= lat.agrees and agree_timer and error <= ACCURATE_LOGIT_ERROR
        rows[dtype] = {
            "clock": lat.context.clock,
            "events_total_ms": lat.total_ms,
            "stage_sum_ms": lat.stage_sum_ms,
            "stage_sum_ratio": lat.ratio,
            "stage_sum_ratio_interval": [lat.sum_ratio.low, lat.sum_ratio.high] if lat.sum_ratio else None,
            "stage_sum_agrees": lat.agrees,
            "timer_ms": timer,
            "events_vs_timer": lat.total_ms / timer,
            "logit_error_pct": 100 * error,
            "accurate": error <= ACCURATE_LOGIT_ERROR,
            "stages_ms": {s.name: round(s.median_ms, 4) for s in lat.stages},
        }
        print(
            f"  {dtype}: events {lat.total_ms:.3f} ms (stage sum {lat.stage_sum_ms:.3f} = {100 * lat.ratio:.1f}%), "
            f"torch.utils.benchmark {timer:.3f} ms (events/timer {lat.total_ms / timer:.3f}), "
            f"logit error vs fp32 {100 * error:.3f}% of range"
        )
    for dtype in ("fp32", "bf16"):
        if "skipped" in rows.get(dtype, {"skipped": ""}):
            continue
        tp = training_throughput(
            model, batch=args.train_batch, image_size=size, steps=args.train_steps, warmup=2,
            runtime=resolve(args.device, dtype),
        )  # fmt: skip
        rows[dtype]["train_images_per_s"] = tp.images_per_s
        print(f"  {dtype}: training {tp.images_per_s:.1f} images/s (batch {args.train_batch})")
    # Grad-CAM on the last stage vs one forward pass (fp32, batch 1)
    x1 = x[:1]

    def forward():
        with torch.inference_mode():
            model(x1)

    def cam():
        grad_cam(model, x1)

    times = {"forward": [], "cam": []}
    for fn in (forward, cam):
        fn()
    for _ in range(args.runs):
        for key, fn in (("forward", forward), ("cam", cam)):
            base.synchronize()
            t = time.perf_counter()
            fn()
            base.synchronize()
            times[key].append((time.perf_counter() - t) * 1e3)
    fwd, cam_ms = statistics.median(times["forward"]), statistics.median(times["cam"])
    print(f"  Grad-CAM last stage {cam_ms:.3f} ms = {cam_ms / fwd:.2f}x forward ({fwd:.3f} ms, batch 1)")
    report[name] = {
        "device": base.name, "threads": base.threads, "batch": args.batch, "image_size": size, "runs": args.runs,
        "dtypes": rows, "gradcam_x_forward": cam_ms / fwd,
    }  # fmt: skip
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", nargs="+", default=["efficientnetv2_b0", "efficientnetv2_s"])
    p.add_argument("--image-size", type=int, default=0, help="0: each model's own size")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--train-batch", type=int, default=16)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    print(f"torch {torch.__version__}, device {resolve(args.device).name}")
    report: dict = {}
    ok = True
    for name in args.models:
        print(f"{name}, batch {args.batch}:")
        ok &= check_model(name, args, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print("all checks agree" if ok else "SOME CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
