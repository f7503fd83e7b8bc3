"""Grad-CAM cost as a multiple of one forward pass, and the per-stage timing's stage-sum agreement, in one run.

    python bench/bench_gradcam.py [--model efficientnetv2_b0] [--image-size 224] [--runs 15] [--device cpu]

Forward and Grad-CAM runs are interleaved round by round, so drift in the machine's speed hits both alike.
The forward is what a prediction costs (inference mode); a Grad-CAM run is everything ``grad_cam`` does for
one image (split forward, captum on the tail, upsampling, scaling, overlay on a crop). Exit status 1 when the
last stage costs more than 2 forward passes or the stage sum and the end-to-end time differ by more than 10%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

from effnetv2 import create_model  # noqa: E402
from effnetv2.devices import resolve  # noqa: E402
from effnetv2.gradcam import grad_cam  # noqa: E402
from effnetv2.profiling import AGREEMENT, stage_latency  # noqa: E402
from effnetv2.testing.reference import calibrate_bn  # noqa: E402

LAST_STAGE_LIMIT = 2.0


def timed(fn, runtime) -> float:
    runtime.synchronize()
    t = time.perf_counter()
    fn()
    runtime.synchronize()
    return (time.perf_counter() - t) * 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnetv2_b0")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    rt = resolve(args.device)
    model = rt.prepare(calibrate_bn(create_model(args.model), size=64)).eval()  # realistic BN statistics
    size = args.image_size
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(rt.device)
    crop = Image.new("RGB", (size, size), (128, 100, 90))
    last = model.stage_names[-2]
    cases = {f"{last} top-1": (last, 1), f"{last} top-3": (last, 3), "head top-1": ("head", 1)}
    cases.update({f"{n} top-1": (n, 1) for n in ("stage4", "stage2") if n in model.stage_names})

    def forward():
        with torch.inference_mode():
            model(x)

    runs = {"forward": forward}
    for name, (target, k) in cases.items():
        runs[name] = lambda t=target, k=k: grad_cam(model, x, target=t, topk=k, image=crop)
    for fn in runs.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.runs):
        for name, fn in runs.items():
            samples[name].append(timed(fn, rt))
    med = {name: statistics.median(v) for name, v in samples.items()}

    print(f"{args.model} {size}px batch 1, {rt.name}, {rt.threads} threads, median of {args.runs} interleaved runs")
    print(f"forward (inference mode): {med['forward']:.2f} ms")
    for name in cases:
        print(f"Grad-CAM {name:<14} {med[name]:8.2f} ms = {med[name] / med['forward']:.2f}x forward")

    lat = stage_latency(model, image_size=size, runs=args.runs * 2, warmup=3, runtime=rt)
    print(
        f"per-stage timing: stage sum {lat.stage_sum_ms:.2f} ms vs end-to-end {lat.total_ms:.2f} ms = "
        f"{100 * lat.ratio:.1f}% ({'within' if lat.agrees else 'OUTSIDE'} {100 * AGREEMENT:.0f}%)"
    )
    cost = med[f"{last} top-1"] / med["forward"]
    ok = cost <= LAST_STAGE_LIMIT and lat.agrees
    print(f"last stage Grad-CAM {cost:.2f}x <= {LAST_STAGE_LIMIT}x: {'yes' if cost <= LAST_STAGE_LIMIT else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
