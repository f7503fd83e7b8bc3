"""The cost model (effnetv2/costs.py) against measurements: peak memory and forward time per configuration.

Each configuration runs in a fresh interpreter (so that one's allocations do not hide the next one's peak): a
model with random weights is built, then two inference passes (or two training steps: forward, cross-entropy,
backward, SGD with momentum, on a copy, as ``profiling.training_throughput`` does) run on the CPU. Measured:
the growth of the process's peak RSS (``ru_maxrss``) over the work, which counts what the estimate counts
(weights beyond the original model, activations, gradients, optimizer state), and the median time of a
forward. Printed beside them: the estimate (``costs.estimate``), the ratio measured/estimated (below 1: the
estimate is conservative), and the activation factors the estimate's constants stand for.

    python bench/cost_model.py [--configs efficientnetv2_b0:224:8:infer,efficientnet_b0:224:4:train ...] [--json]

Peak RSS is an upper bound on what torch holds (the allocator keeps freed blocks), so it is what a machine
must have; times on a shared machine drift, so the time column is indicative only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effnetv2 import costs  # noqa: E402

DEFAULT = (
    "efficientnetv2_b0:224:8:infer,efficientnet_b0:320:8:infer,efficientnetv2_s:384:8:infer,"
    "efficientnetv2_b0:224:4:train,efficientnetv2_b0:320:4:train,efficientnet_b0:224:4:train,efficientnet_b7:224:2:train"
)

MEASURE = """
import copy, json, resource, statistics, sys, time
import torch
import torch.nn.functional as F
from effnetv2.model import create_model
name, size, batch, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
model = create_model(name)
x = torch.randn(batch, 3, size, size)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
if mode == "infer":
    model.eval()
    with torch.inference_mode():
        for _ in range(3):
            t = time.perf_counter(); model(x); times.append(time.perf_counter() - t)
else:
    net = copy.deepcopy(model).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    y = torch.randint(0, 1000, (batch,))
    for _ in range(2):
        F.cross_entropy(net(x), y).backward(); opt.step(); opt.zero_grad(set_to_none=True)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"grown": grown, "forward_s": statistics.median(times) / batch if times else None}))
"""


def measure(name: str, size: int, batch: int, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, name, str(size), str(batch), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(spec: str) -> dict:
    name, size, batch, mode = spec.split(":")
    size, batch = int(size), int(batch)
    fp = costs.footprint(name, None, size)
    train = mode == "train"
    work = costs.Work(name, ((None, size),), batch=0 if train else batch, train_batch=batch if train else 0)
    estimate = costs.estimate(work).bytes
    weights = fp.params * costs.BYTES_PER_VALUE
    got = measure(name, size, batch, mode)
    # what the measurement says the activation factor is (the original model's weights exist before `before`)
    if train:
        factor = (got["grown"] - 3 * weights) / (batch * fp.activations * costs.BYTES_PER_VALUE)
        estimate_here = estimate - weights  # the estimate counts the original model too
    else:
        factor = got["grown"] / (batch * fp.largest * costs.BYTES_PER_VALUE)
        estimate_here = estimate - weights
    return {
        "config": spec,
        "measured_mb": got["grown"] / 1e6,
        "estimated_mb": estimate_here / 1e6,
        "ratio": got["grown"] / estimate_here,
        "factor": factor,
        "forward_ms_per_image": None if got["forward_s"] is None else got["forward_s"] * 1e3,
        "macs_per_s": None if not got["forward_s"] else fp.macs / got["forward_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=DEFAULT, help="model:size:batch:infer|train, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [row(spec) for spec in args.configs.split(",")]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    constants = ("INFERENCE_ACTIVATIONS", "TRAINING_ACTIVATIONS", "WORKSPACE_BYTES")
    print("constants: " + ", ".join(f"{c}={getattr(costs, c)}" for c in constants))
    print(
        f"{'config':<34} {'measured MB':>11} {'estimate MB':>11} {'ratio':>6} {'factor':>6} {'ms/img':>7} {'GMAC/s':>7}"
    )
    for r in rows:
        ms = "" if r["forward_ms_per_image"] is None else f"{r['forward_ms_per_image']:.1f}"
        rate = "" if r["macs_per_s"] is None else f"{r['macs_per_s'] / 1e9:.1f}"
        print(f"{r['config']:<34} {r['measured_mb']:11.0f} {r['estimated_mb']:11.0f} {r['ratio']:6.2f} "
              f"{r['factor']:6.2f} {ms:>7} {rate:>7}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
