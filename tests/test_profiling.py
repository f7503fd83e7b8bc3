import json
import math

import pytest
import torch

from effnetv2 import create_model
from effnetv2.devices import resolve
from effnetv2.errors import BoundsError
from effnetv2.profiling import (
    AGREEMENT,
    Benchmark,
    Clock,
    Context,
    Latency,
    Spread,
    StageLatency,
    benchmark,
    clock_for,
    stage_latency,
    training_throughput,
)
from effnetv2.stats import model_stats

SIZE = 64  # small images keep these tests fast on 2 cores; the numbers themselves are checked in bench/


@pytest.fixture(scope="module")
def b0():
    return create_model("efficientnetv2_b0")


class DeferredClock:
    """Behaves like CUDA events: times exist only after the one synchronize at the end.

    Each record() advances a fake GPU clock by 1 ms, so every elapsed time is known exactly.
    """

    def __init__(self):
        self.ticks = 0
        self.synced = 0
        self.created = 0

    def clock(self) -> Clock:
        return Clock(self.event, self.synchronize, "fake-cuda")

    def synchronize(self):
        self.synced += 1

    def event(self):
        owner = self
        owner.created += 1

        class Ev:
            t = None
            syncs_at_record = None

            def record(self):
                self.t = owner.ticks
                self.syncs_at_record = owner.synced
                owner.ticks += 1

            def elapsed_time(self, end):
                if owner.synced <= end.syncs_at_record:
                    raise RuntimeError("elapsed_time before synchronize")
                return float(end.t - self.t)

        return Ev()


def test_stage_latency_structure(b0):
    lat = stage_latency(b0, batch=2, image_size=SIZE, runs=3, warmup=1, runtime=resolve("cpu"))
    assert [s.name for s in lat.stages] == b0.stage_names == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    counts = model_stats(b0, SIZE).stages
    for s, c in zip(lat.stages, counts, strict=True):
        assert 0 < s.p10_ms <= s.median_ms <= s.p90_ms
        assert s.low_ms <= s.median_ms <= s.high_ms  # the median's 95% interval
        assert (s.params, s.macs) == (c.params, c.macs) and s.macs > 0
    assert lat.stage_sum_ms == pytest.approx(sum(s.median_ms for s in lat.stages))
    # the stage sum against the end-to-end time of the same run, over runs (not a ratio of two medians)
    assert lat.sum_ratio is not None and lat.ratio == lat.sum_ratio.value
    assert lat.sum_ratio.low <= lat.ratio <= lat.sum_ratio.high
    assert lat.agrees == (lat.sum_ratio.low <= 1 + AGREEMENT and lat.sum_ratio.high >= 1 - AGREEMENT)
    assert lat.stage_sum_ms < lat.total.p90_ms * 1.5  # the hooks see at most the forward pass they sit in
    c = lat.context
    assert (c.model, c.blocks, c.dtype, c.batch, c.image_size) == ("efficientnetv2_b0", "FFFMMM", "fp32", 2, SIZE)
    assert c.device.startswith("cpu (") and c.threads == torch.get_num_threads() and c.clock == "perf_counter"
    assert lat.runs == 3 and 1 <= lat.warmup <= 8  # at least the warm-up asked for, more until runs are steady
    assert lat.conditions is not None and "load average" in lat.conditions.noise.line()
    assert lat.to_dict()["stages"][0]["name"] == "stem"


def test_smallest_image_size_runs(b0):
    """At 32 px the last stages are 1x1: per-stage counts and timing must still work at batch 1."""
    lat = stage_latency(b0, image_size=32, runs=1, warmup=0, runtime=resolve("cpu"))
    assert lat.stages[-1].macs > 0


def test_model_left_as_found(b0):
    b0.train()
    stage_latency(b0, image_size=SIZE, runs=1, warmup=0, runtime=resolve("cpu"))
    assert b0.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in b0.modules())
    b0.eval()


def test_event_path_synchronizes_once_per_run(b0):
    """The CUDA code path (events, read only after a synchronize) driven on CPU by a deferred clock."""
    fake = DeferredClock()
    lat = stage_latency(b0, image_size=SIZE, runs=4, warmup=2, runtime=resolve("cpu"), clock=fake.clock())
    n = len(b0.stage_names)
    # every run takes the same fake time, so the warm-up stops at the 2 runs asked for
    assert lat.warmup == 2 and fake.synced == 4 + 2
    assert fake.created == (4 + 2) * (2 * n + 2)
    # Per run: start, (pre, post) per stage, end -> each stage 1 tick, the whole run 2n + 1 ticks.
    assert all(s.median_ms == s.p10_ms == s.p90_ms == s.low_ms == s.high_ms == 1.0 for s in lat.stages)
    assert lat.total_ms == 2 * n + 1
    assert lat.stage_sum_ms == n
    assert not lat.agrees and lat.context.clock == "fake-cuda"


def test_cuda_runtime_gets_cuda_events():
    assert clock_for(resolve("cpu")).kind == "perf_counter"
    from effnetv2.devices import Runtime

    assert clock_for(Runtime(torch.device("cuda"))).kind == "cuda-events"


def _latency(stage_ms, total_ms):
    ctx = Context("m", "FM", "cpu", "fp32", 1, False, 1, 32, "perf_counter")
    stages = [StageLatency(f"s{i}", t, t, t, 0, 0) for i, t in enumerate(stage_ms)]
    return Latency(ctx, 1, 0, Spread(total_ms, total_ms, total_ms), stages)


@pytest.mark.parametrize(
    ("stage_ms", "total_ms", "agrees"),
    [([4.0, 5.0], 10.0, True), ([4.0, 4.0], 10.0, False), ([5.0, 5.5], 10.0, True), ([6.0, 6.0], 10.0, False)],
)
def test_agreement_rule(stage_ms, total_ms, agrees):
    lat = _latency(stage_ms, total_ms)
    assert lat.ratio == pytest.approx(sum(stage_ms) / total_ms)
    assert lat.agrees is agrees


def test_spread_percentiles():
    s = Spread.of([float(v) for v in range(1, 12)])  # 1..11
    assert (s.p10_ms, s.median_ms, s.p90_ms) == (2.0, 6.0, 10.0)
    with pytest.raises(ValueError):
        Spread.of([])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"runs": 0}, "runs must be from 1 to 200"),
        ({"runs": 201}, "runs"),
        ({"runs": 2.5}, "runs must be a whole number"),
        ({"runs": True}, "runs must be a whole number"),
        ({"batch": 65}, "batch must be from 1 to 64"),
        ({"image_size": 16}, "image size must be from 32 to 1024"),
        ({"warmup": -1}, "warmup"),
    ],
)
def test_bounds(b0, kwargs, match):
    args = {"image_size": SIZE, "runs": 1, "warmup": 0, **kwargs}
    with pytest.raises(BoundsError, match=match):
        stage_latency(b0, runtime=resolve("cpu"), **args)


def test_training_throughput_leaves_the_model_alone(b0):
    before = {k: v.clone() for k, v in b0.state_dict().items()}
    tp = training_throughput(b0, batch=2, image_size=SIZE, steps=2, warmup=1, runtime=resolve("cpu"))
    assert tp.images_per_s == pytest.approx(2 / (tp.step.median_ms / 1e3))
    assert tp.images_per_s > 0 and tp.optimizer_step and tp.context.batch == 2
    after = b0.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not b0.training


def test_training_throughput_event_path_and_no_optimizer(b0):
    fake = DeferredClock()
    tp = training_throughput(
        b0,
        batch=2,
        image_size=SIZE,
        steps=3,
        warmup=1,
        runtime=resolve("cpu"),
        optimizer_step=False,
        clock=fake.clock(),
    )
    # warm-up: 2 runs (the second as fast as the first), then 3 steps; one synchronize per step
    assert fake.synced == 5 and fake.created == 10 and tp.warmup == 2
    assert tp.step.median_ms == 1.0 and tp.images_per_s == 2000.0


def test_training_needs_two_values_per_channel(b0):
    with pytest.raises(BoundsError, match="batch 2 or more"):
        training_throughput(b0, batch=1, image_size=32, steps=1, warmup=0, runtime=resolve("cpu"))


def test_benchmark_json_keys_and_progress():
    seen = []
    b = benchmark(
        "efficientnetv2_b0",
        blocks="MMMMMM",
        image_size=SIZE,
        runs=2,
        warmup=1,
        device="cpu",
        train=True,
        train_steps=1,
        progress=lambda f, text: seen.append((f, text)),
    )
    d = b.to_dict()
    assert set(d) == {
        "model", "blocks", "device", "dtype", "threads", "batch", "image_size", "total_ms", "total_low_ms",
        "total_high_ms", "stage_sum_ms", "agrees", "stages", "noise", "images_per_s", "images_per_s_low",
        "images_per_s_high",
    }  # fmt: skip
    assert set(d["stages"][0]) == {"name", "median_ms", "p10_ms", "p90_ms", "params", "macs", "low_ms", "high_ms"}
    assert d["total_low_ms"] <= d["total_ms"] <= d["total_high_ms"]
    assert d["images_per_s_low"] <= d["images_per_s"] <= d["images_per_s_high"]
    assert d["noise"].startswith("machine ") and "identical runs vary" in d["noise"]
    assert d["blocks"] == "MMMMMM" and d["image_size"] == SIZE
    assert "images_per_s" not in Benchmark(b.latency).to_dict()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("training" in t for _, t in seen)


@pytest.mark.parametrize(("dtype", "channels_last"), [("bf16", False), ("fp16", True)])
def test_reduced_precision_and_channels_last_run(b0, dtype, channels_last):
    b = benchmark(b0, image_size=SIZE, runs=1, warmup=0, device="cpu", dtype=dtype, channels_last=channels_last)
    assert b.latency.context.dtype == dtype and b.latency.context.channels_last is channels_last
    assert all(math.isfinite(s.median_ms) for s in b.latency.stages)


def test_cli_bench_json_and_text(capsys):
    from effnetv2.cli import main

    argv = ["bench", "efficientnetv2_b0", "--image-size", str(SIZE), "--runs", "2", "--warmup", "0", "--device", "cpu"]
    assert main([*argv, "--batch", "2", "--dtype", "bf16", "--json"]) == 0
    out = capsys.readouterr()
    d = json.loads(out.out)
    assert set(d) == {
        "model", "blocks", "device", "dtype", "threads", "batch", "image_size", "total_ms", "total_low_ms",
        "total_high_ms", "stage_sum_ms", "agrees", "stages", "noise",
    }  # fmt: skip
    assert (d["dtype"], d["batch"], d["image_size"], len(d["stages"])) == ("bf16", 2, SIZE, 8)
    assert "[100%]" in out.err
    assert main([*argv, "--blocks", "MMMMMM", "--train"]) == 0
    text = capsys.readouterr().out
    assert "blocks=MMMMMM" in text and "stage sum" in text and "images/s" in text and "95% interval" in text
    assert text.startswith("machine ")  # the noise line comes first


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--runs", "500"], "runs must be from 1 to 200"),
        (["--image-size", "2000"], "image size must be from 32 to 1024"),
        (["--dtype", "int8"], "invalid choice"),
        (["--device", "tpu"], "device"),
    ],
)
def test_cli_bench_errors_are_one_line(capsys, extra, match):
    from effnetv2.cli import main

    try:
        rc = main(["bench", "efficientnetv2_b0", "--runs", "1", *extra])
    except SystemExit as exit_:  # argparse's own errors (e.g. a dtype not among the choices)
        rc = exit_.code
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_gpu_engine_check_runs_on_cpu(tmp_path):
    """bench/gpu_engine_check.py is written for CUDA; on CPU it must run the same steps and report them all.

    Its pass/fail verdict is a timing comparison (for the GPU run), so only the report's content is checked.
    """
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "gpu_engine_check.py"
    out = tmp_path / "report.json"
    args = ["--device", "cpu", "--models", "efficientnetv2_b0", "--image-size", "32", "--batch", "2", "--runs", "2"]
    proc = subprocess.run(
        [sys.executable, str(script), *args, "--train-batch", "2", "--train-steps", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(out.read_text())["efficientnetv2_b0"]
    assert report["device"].startswith("cpu") and report["batch"] == 2 and report["image_size"] == 32
    for dtype in ("fp32", "bf16", "fp16"):
        row = report["dtypes"][dtype]
        assert row["clock"] == "perf_counter"
        low, high = row["stage_sum_ratio_interval"]  # per run: stage sum / that run's end-to-end time
        assert low <= row["stage_sum_ratio"] <= high
        assert row["stage_sum_agrees"] == (low <= 1 + AGREEMENT and high >= 1 - AGREEMENT)
        assert row["events_vs_timer"] == pytest.approx(row["events_total_ms"] / row["timer_ms"])
        assert set(row["stages_ms"]) == {"stem", *(f"stage{i}" for i in range(1, 7)), "head"}
        assert math.isfinite(row["logit_error_pct"]) and row["accurate"] == (row["logit_error_pct"] <= 2.0)
    assert report["dtypes"]["fp32"]["logit_error_pct"] == 0.0
    assert report["dtypes"]["bf16"]["train_images_per_s"] > 0 and report["gradcam_x_forward"] > 0


def _diff(verdict):
    from effnetv2.measure import Difference, Interval

    return Difference("training step", "b", "a", Interval(1.0, 0.9, 1.1), verdict)


def test_order_verdict_reads_each_neighbours_verdict():
    from effnetv2.profiling import CONTRADICTED, SUPPORTED, TOO_NOISY, order_verdict

    assert order_verdict([_diff("faster"), _diff("faster")]) == SUPPORTED
    assert order_verdict([_diff("faster"), _diff("can't tell")]) == TOO_NOISY
    assert order_verdict([_diff("too noisy"), _diff("faster")]) == TOO_NOISY
    assert order_verdict([_diff("faster"), _diff("slower")]) == CONTRADICTED  # the cold-first-click curve
    assert order_verdict([]) == TOO_NOISY


def test_compare_training_warms_every_shape_and_interleaves(monkeypatch):
    """Each setup is warmed up before any timed step, then the timed steps rotate through the setups."""
    from effnetv2 import profiling

    calls = []
    real = profiling._train_step

    def spy(net, batch, image_size, runtime, optimizer_step):
        step = real(net, batch, image_size, runtime, optimizer_step)
        return lambda: (calls.append(image_size), step())

    monkeypatch.setattr(profiling, "_train_step", spy)
    net = create_model("efficientnetv2_b0", blocks="FFFFFF", num_classes=10)
    result = profiling.compare_training([("b0", net, 32), ("b0", net, 48)], batch=2, rounds=2, warmup=1, threads=1)
    warm = result.conditions.warmup
    w32, w48 = warm["b0 @ 32px"], warm["b0 @ 48px"]
    assert 1 <= w32 <= 4 and 1 <= w48 <= 4  # until steady, at most the schedule's cap
    assert calls == [32] * w32 + [48] * w48 + [32, 48, 48, 32]  # warm-up per size, then rotating rounds
    assert [p.image_size for p in result.points] == [32, 48]
    for p in result.points:
        assert p.p10_images_per_s <= p.images_per_s <= p.p90_images_per_s
        assert p.low_images_per_s <= p.images_per_s <= p.high_images_per_s
    assert result.verdict in ("supported", "contradicted", "too noisy")
    d = result.to_dict()
    assert d["points"][0]["label"] == "b0" and d["differences"][0]["measure"] == "training step"
    assert d["conditions"]["noise"]["threads"]["count"] == 1
