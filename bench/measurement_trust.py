"""Can a teacher trust the Lab's verdicts on a shared CPU? A/A and A/B trials of `effnetv2.compare`, with and
without a CPU hog beside them.

- **A/A**: a configuration against itself (B0 FFFMMM at 224, V2-S FFFMMM at 256): the verdict may say
  "faster"/"slower" in at most 5% of trials (the false-positive rate), with and without a hog.
- **A/B, known difference**: B0 at 224 against B0 at 160 (about 2x the MACs) and FFFMMM against MMMMMM at 224:
  on a quiet machine the verdict finds the direction in at least 95% of trials; with a hog it finds it or says
  "can't tell"/"too noisy", never the wrong direction. The "right direction" of FFFMMM vs MMMMMM is whatever the
  quiet trials' pooled median ratio says (this CPU decides it, not the paper's GPUs).
- The time one Lab comparison at its defaults takes.

A hog is ``--hog N`` processes spinning on N cores (0, 1 or 2) beside the measurement for the whole run.

    python bench/measurement_trust.py --hog 0 --trials 40 --ab-trials 20
    python bench/measurement_trust.py --hog 1 --trials 40 --ab-trials 20

Figures and the machine they came from: docs/measurements.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from dataclasses import dataclass

from effnetv2.compare import compare
from effnetv2.measure import CANT_TELL, FASTER, SLOWER, TOO_NOISY
from effnetv2.precision import cpu_name


def _spin() -> None:
    while True:
        pass


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    baseline: str
    variant: str
    size: int
    variant_size: int
    expect: str | None
    """The direction of variant vs baseline: "faster", "slower", "equal" (A/A) or None (decided by the run)."""


CASES = {
    "aa_b0": Case("A/A B0 FFFMMM @ 224", "efficientnetv2_b0", "FFFMMM", "FFFMMM", 224, 224, "equal"),
    "aa_s": Case("A/A V2-S FFFMMM @ 256", "efficientnetv2_s", "FFFMMM", "FFFMMM", 256, 256, "equal"),
    "ab_size": Case("B0 @ 160 vs @ 224", "efficientnetv2_b0", "FFFMMM", "FFFMMM", 224, 160, FASTER),
    "ab_blocks": Case("B0 FFFMMM vs MMMMMM @ 224", "efficientnetv2_b0", "MMMMMM", "FFFMMM", 224, 224, None),
}


def trial(case: Case, train: bool) -> dict:
    t0 = time.perf_counter()
    r = compare(case.model, [case.variant], [case.variant_size] if case.variant_size != case.size else [],
                baseline_blocks=case.baseline, image_size=case.size, train=train)  # fmt: skip
    seconds = time.perf_counter() - t0
    lat, tr = r.verdicts(0)
    out = {
        "seconds": seconds,
        "load": os.getloadavg()[0],
        "threads": r.conditions.noise.threads.count if r.conditions.noise.threads else None,
        "rounds": r.conditions.rounds,
        "latency": {
            "verdict": lat.verdict,
            "ratio": lat.ratio.value,
            "low": lat.ratio.low,
            "high": lat.ratio.high,
            "reason": lat.reason,
        },
        "noise": r.conditions.noise.line(),
    }
    if tr is not None:
        out["training"] = {"verdict": tr.verdict, "ratio": tr.ratio.value, "low": tr.ratio.low, "high": tr.ratio.high}
    return out


def rates(trials: list[dict], key: str, expect: str | None) -> dict:
    verdicts = [t[key]["verdict"] for t in trials]
    ratios = [t[key]["ratio"] for t in trials]
    n = len(verdicts)
    out = {v: verdicts.count(v) / n for v in (FASTER, SLOWER, CANT_TELL, TOO_NOISY)}
    out["median_ratio"] = statistics.median(ratios)
    if expect == "equal":
        out["false_positive"] = out[FASTER] + out[SLOWER]
    elif expect in (FASTER, SLOWER):
        wrong = SLOWER if expect == FASTER else FASTER
        out["found"], out["wrong_direction"] = out[expect], out[wrong]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hog", type=int, default=0, help="cores kept busy beside the measurement (0-2)")
    ap.add_argument("--trials", type=int, default=40, help="A/A trials per case")
    ap.add_argument("--ab-trials", type=int, default=20, help="A/B trials per case")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    ap.add_argument("--train", action="store_true", help="also training (the Lab's default; slower)")
    ap.add_argument("--expect-blocks", choices=(FASTER, SLOWER), help="direction of FFFMMM vs MMMMMM, if known")
    ap.add_argument("--json", help="write the trials here")
    args = ap.parse_args()
    hogs = [mp.Process(target=_spin, daemon=True) for _ in range(args.hog)]
    for h in hogs:
        h.start()
    report: dict = {"cpu": cpu_name(), "hog": args.hog, "cases": {}}
    try:
        for key in args.cases.split(","):
            case = CASES[key]
            if key == "ab_blocks" and args.expect_blocks:
                case = Case(**{**case.__dict__, "expect": args.expect_blocks})
            n = args.trials if case.expect == "equal" else args.ab_trials
            trials = []
            for i in range(n):
                trials.append(trial(case, args.train))
                lat = trials[-1]["latency"]
                print(f"{case.name} {i + 1}/{n}: {lat['verdict']} ratio {lat['ratio']:.3f} "
                      f"[{lat['low']:.3f}-{lat['high']:.3f}] {trials[-1]['seconds']:.1f}s load "
                      f"{trials[-1]['load']:.1f} threads {trials[-1]['threads']}", flush=True)  # fmt: skip
            summary = {"latency": rates(trials, "latency", case.expect)}
            if args.train:
                summary["training"] = rates(trials, "training", case.expect)
            summary["seconds_median"] = statistics.median(t["seconds"] for t in trials)
            summary["load_range"] = [min(t["load"] for t in trials), max(t["load"] for t in trials)]
            report["cases"][key] = {"name": case.name, "expect": case.expect, "summary": summary, "trials": trials}
            print(f"== {case.name} (hog {args.hog}): {json.dumps(summary)}", flush=True)
    finally:
        for h in hogs:
            h.terminate()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
