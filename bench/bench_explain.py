"""What each explanation method costs as a multiple of one forward pass, and the atlas's time, in one run.

    python bench/bench_explain.py [--runs 5] [--atlas-runs 1] [--scores] [--json FILE]

On the embedded EfficientNet-Lite0 (real weights, offline) at 224 px, the cat pasted on gray
(``effnetv2.testing.photos``). Forward passes (batch 1, inference mode) and each method at its default stage
(the CAMs at the last stage, occlusion and IG at the input) are interleaved round by round, so drift in the
machine's speed hits all alike; the table gives medians. Then the atlas: 5 methods x 3 stages (Lite0: stage3,
stage5, stage7) with deletion and insertion curves and the random baseline, its wall time against the 20 s
target. ``--scores`` also prints the atlas scores of every photo in assets/ and the sanity check (IG with 4 steps) of
each gradient method at its default stage and of IG and occlusion at the last stage (no timing there).
Exit status 1 when the atlas takes over 20 s or a single Grad-CAM over 2 forward passes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from effnetv2 import load_pretrained, open_image  # noqa: E402
from effnetv2.explain import GRADIENT_METHODS, METHODS, atlas, atlas_stages, explain, sanity_check  # noqa: E402
from effnetv2.precision import cpu_name  # noqa: E402
from effnetv2.samples import ASSETS  # noqa: E402
from effnetv2.testing.photos import cat_on_gray  # noqa: E402

ATLAS_LIMIT_S = 20.0
GRADCAM_LIMIT = 2.0


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def costs(model, x, runs: int) -> dict[str, float]:
    """Median seconds of a forward and of each method at its default stage, interleaved round by round."""

    def forward():
        with torch.inference_mode():
            model(x[None])

    work = {"forward": forward, **{m: (lambda m=m: explain(model, x, m)) for m in METHODS}}
    for fn in work.values():  # warm-up: oneDNN primitives, captum's first call
        fn()
    samples: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(runs):
        for k, fn in work.items():
            samples[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in samples.items()}


def scores_table(lite0) -> None:
    """The atlas scores of the cat on gray and of every assets/ photo, then the sanity check on each."""
    images = {"cat on gray": cat_on_gray()}
    images.update({p.name: open_image(p) for p in sorted(ASSETS.glob("*.jpg"))})
    print("\n| image | class | method | stage | deletion | insertion | random deletion | random insertion |")
    print("|---|---|---|---|---|---|---|---|")
    for name, image in images.items():
        x = lite0.transform(image)
        a = atlas(lite0.model, x, labels=lite0.labels)
        for s in a.scores:
            print(
                f"| {name} | {s.class_index} {s.label} | {s.method} | {s.stage} | {s.curves.deletion_auc:.3f} | "
                f"{s.curves.insertion_auc:.3f} | {s.random.deletion_auc:.3f} | {s.random.insertion_auc:.3f} |"
            )
    print("\n| image | method | stage | rank correlation after randomizing head ... stem | verdict |")
    print("|---|---|---|---|---|")
    for name, image in images.items():
        x = lite0.transform(image)
        for methods, stage in ((GRADIENT_METHODS, None), (("ig", "occlusion"), "stage7")):
            r = sanity_check(lite0.model, x, methods, stage, ig_steps=4)
            for m, corr in r.correlations.items():
                verdict = "failed" if m in r.failed else "passed"
                print(f"| {name} | {m} | {r.stage[m]} | {' '.join(f'{c:+.2f}' for c in corr)} | {verdict} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds of forward and methods")
    parser.add_argument("--atlas-runs", type=int, default=1, help="timed atlases (after one warm-up)")
    parser.add_argument("--scores", action="store_true", help="also the scores and sanity of the assets photos")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's, 2 on 2 cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lite0 = load_pretrained("embedded", device="cpu")
    model = lite0.model
    x = lite0.transform(cat_on_gray())
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, Lite0 at 224 px; load average "
          f"{load} before the start (other work on the cores inflates every time below)")  # fmt: skip
    med = costs(model, x, args.runs)
    fwd = med["forward"]
    print(f"\n| work | median ms | x forward |\n|---|---|---|\n| forward (batch 1) | {1e3 * fwd:.1f} | 1.0 |")
    for m in METHODS:
        print(f"| {m} ({'input' if m in ('occlusion', 'ig') else 'stage7'}) | {1e3 * med[m]:.1f} | "
              f"{med[m] / fwd:.1f} |")  # fmt: skip
    stages = atlas_stages(model)
    atlas(model, x, METHODS, stages, steps=2, random_orders=1, ig_steps=2)  # warm-up
    times = [atlas(model, x, METHODS, stages).seconds for _ in range(max(1, args.atlas_runs))]
    best = min(times)
    listed = ", ".join(f"{t:.1f}" for t in times)
    print(
        f"\natlas: {len(METHODS)} methods x {len(stages)} stages ({', '.join(stages)}) with scores: {listed} s = "
        f"{best / fwd:.0f} forward passes (target {ATLAS_LIMIT_S:.0f} s)"
    )
    if args.json:
        figures = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "load_average": load, "median_s": med,
                   "atlas_s": times, "atlas_stages": stages}  # fmt: skip
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if args.scores:
        scores_table(lite0)
    ok = best <= ATLAS_LIMIT_S and med["gradcam"] <= GRADCAM_LIMIT * fwd
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
