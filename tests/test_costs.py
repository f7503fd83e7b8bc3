"""The cost model (effnetv2/costs.py): estimates that grow with what costs, refusals in one line that name the
bound and a value that fits, wired into the engine and the app's back end before anything runs (issue #15)."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from effnetv2 import costs
from effnetv2.backend import lab, latency, limits
from effnetv2.bounds import BATCH, IMAGE_SIZE, RUNS
from effnetv2.compare import compare
from effnetv2.config import Blocks
from effnetv2.devices import resolve
from effnetv2.errors import MemoryLimitError, TimeLimitError
from effnetv2.profiling import benchmark
from effnetv2.testing.hubfake import ROOT, run_python

B0 = "efficientnetv2_b0"
B7 = "efficientnet_b7"
GB = 10**9


def _work(model: str = B0, size: int = 224, **kw) -> costs.Work:
    return costs.Work(model, ((None, size),), **kw)


def _never(*_args) -> None:
    raise AssertionError("the request ran although it should have been refused first")


# --- the estimate ---------------------------------------------------------------------------------------------


def test_footprint_counts_shapes_and_scales_with_pixels():
    small, big = costs.footprint(B0, None, 224), costs.footprint(B0, None, 448)
    assert small.params == big.params > 5_000_000  # weights do not depend on the image size
    assert 3.6 < big.activations / small.activations < 4.4 and 3.6 < big.macs / small.macs < 4.4
    scaled = small.at(448)
    assert abs(scaled.activations - big.activations) / big.activations < 0.05
    assert costs.footprint(B7, None, 224).activations > 5 * small.activations


def test_the_estimate_grows_with_batch_size_runs_and_training():
    base = costs.estimate(_work(batch=1, runs=5))
    assert costs.estimate(_work(batch=8, runs=5)).bytes > base.bytes
    assert costs.estimate(_work(size=448, batch=1, runs=5)).bytes > base.bytes
    assert costs.estimate(_work(batch=1, runs=50)).seconds == pytest.approx(10 * base.seconds)
    trained = costs.estimate(_work(batch=1, runs=5, train_batch=4, train_steps=3))
    assert trained.bytes > base.bytes and trained.seconds > base.seconds


def test_the_issue_figures_are_the_right_size():
    """Issue #15: B7 comparing FFFMMMM at 448 px with training measured about 18 GB, 40 GB at 640 px."""
    at = {
        s: costs.estimate(costs.Work(B7, (("FFFMMMM", s), (None, s)), train_batch=4, train_steps=4)) for s in (448, 640)
    }
    assert 10 * GB < at[448].bytes < 30 * GB and 20 * GB < at[640].bytes < 60 * GB


def test_a_measured_forward_replaces_the_macs_rate():
    work = _work(model="efficientnet_lite1", size=240, batch=2, runs=3, warmup=1)
    guess = costs.estimate(work).seconds
    costs.record_forward("efficientnet_lite1", None, 240, "cpu", "fp32", 0.5)
    assert costs.estimate(work).seconds == pytest.approx(0.5 * 2 * (3 + 1))
    assert guess != pytest.approx(4.0)
    bigger = _work(model="efficientnet_lite1", size=480, batch=1, runs=1)  # 4x the pixels of the measured size
    assert costs.estimate(bigger).seconds == pytest.approx(4 * 0.5)


# --- refusals ---------------------------------------------------------------------------------------------------


def _suggested(message: str, knob: str) -> int:
    return int(re.search(rf"{knob} <= (\d+)", message).group(1))


def test_memory_refusal_names_need_allowance_and_the_largest_size_that_fits():
    work = costs.Work(B7, ((None, 640),), batch=1, train_batch=4, train_steps=2)
    budget = costs.Budget(8 * GB, None, "a test budget")
    with pytest.raises(MemoryLimitError) as info:
        costs.check(work, budget, what="this comparison", memory_knobs=(("image size", IMAGE_SIZE),))
    message = str(info.value)
    assert re.fullmatch(
        r"this comparison needs about [\d.]+ GB at 640 px, 8\.0 GB allowed here \(a test budget\): "
        r"choose image size <= \d+",
        message,
    ), message
    size = _suggested(message, "image size")
    assert size % costs.SIZE_STEP == 0
    assert costs.estimate(work.with_cap("image size", size)).bytes <= budget.bytes * 1.05  # scaled vs exact shapes
    assert costs.estimate(work.with_cap("image size", size + 2 * costs.SIZE_STEP)).bytes > budget.bytes


def test_time_refusal_suggests_runs_then_batch():
    work = _work(model=B7, size=640, batch=16, runs=30, warmup=2)
    budget = costs.Budget(10**15, 120.0, "", "EFFNETV2_MAX_REQUEST_S")
    knobs = (("runs", RUNS), ("batch", BATCH), ("image size", IMAGE_SIZE))
    with pytest.raises(TimeLimitError) as info:
        costs.check(work, budget, what="this measurement", time_knobs=knobs)
    message = str(info.value)
    assert "this measurement would take about" in message and "120 s allowed here (EFFNETV2_MAX_REQUEST_S)" in message
    assert "\n" not in message and "choose runs 1 and batch <= " in message  # one run of 16 is still too long
    batch = _suggested(message, "batch")
    assert costs.estimate(costs.Work(B7, ((None, 640),), batch, 1, 2)).seconds <= 120
    assert costs.estimate(costs.Work(B7, ((None, 640),), batch + 1, 1, 2)).seconds > 120
    few = _work(model=B7, size=640, batch=1, runs=30, warmup=2)
    with pytest.raises(TimeLimitError, match=r"choose runs <= \d+$"):
        costs.check(few, costs.Budget(10**15, 60.0), what="this", time_knobs=knobs)


def test_a_comparison_that_fits_without_training_says_so():
    work = costs.Work(B7, ((None, 448),), train_batch=4, train_steps=4)
    budget = costs.Budget(6 * GB)
    with pytest.raises(MemoryLimitError, match=r": turn training off or choose image size <= \d+$"):
        costs.check(work, budget, what="x", memory_knobs=(("image size", IMAGE_SIZE),), training_optional=True)


def test_what_fits_is_returned_not_refused():
    e = costs.check(_work(batch=1, runs=5), costs.Budget(10 * GB, 120.0), what="this")
    assert 0 < e.bytes < 10 * GB and 0 < e.seconds < 120


# --- the routes: engine, back end -----------------------------------------------------------------------------


def test_latency_tab_refuses_the_hour_long_request_before_running(monkeypatch):
    """Issue #15: B7 at 640 px, batch 16, 30 runs would hold the torch slot for about an hour."""
    monkeypatch.setattr("effnetv2.profiling.create_model", _never)
    with pytest.raises(TimeLimitError) as info:
        latency.measure(Blocks.parse(B7, None), 640, 16, 30, device="cpu")
    message = str(info.value)
    assert "120 s allowed here (EFFNETV2_MAX_REQUEST_S)" in message and "choose runs" in message


def test_lab_refuses_the_issue_comparison_without_asking_for_a_smaller_training_batch(monkeypatch):
    """Issue #15: /compare("efficientnet_b7", "FFFMMMM", 448, 1, 1, True): about 18 GB with training; the
    training batch is fixed in the Lab, so the message must not ask for a smaller batch."""
    monkeypatch.setattr(sys.modules["effnetv2.compare"], "create_model", _never)  # the module, not the function
    monkeypatch.setitem(costs.MACS_PER_S, "cuda", costs.MACS_PER_S["cpu"])  # the Lab runs on CUDA where there is one
    for size in (448, 640):
        with pytest.raises((MemoryLimitError, TimeLimitError)) as info:
            lab.compare(Blocks.parse(B7, "FFFMMMM"), size, 1, 1, True)
        message = str(info.value)
        assert "\n" not in message and "this comparison" in message and "turn training off" in message
        assert "batch" not in message.split(":")[-1]


def test_lab_out_of_memory_while_training_does_not_ask_for_a_smaller_batch(monkeypatch):
    def out_of_memory(*_args, **_kw):
        raise MemoryLimitError("out of memory for training batch 4 at 448 px on cpu: use a smaller batch or image size",
                               "training batch 4 at 448 px on cpu")  # fmt: skip

    monkeypatch.setattr(lab, "run_compare", out_of_memory)
    with pytest.raises(MemoryLimitError) as info:
        lab.compare(Blocks.parse(B0, "FFFFFF"), 448, 1, 1, True)
    assert str(info.value) == (
        "out of memory for training batch 4 at 448 px on cpu: choose a smaller image size or turn training off "
        f"(the training batch is fixed at {limits.TRAIN_BATCH.default} here)"
    )


def test_engine_entry_points_refuse_what_the_memory_cannot_hold(monkeypatch):
    """The CLI and the Python API: memory only (no time bound), the engine's own bounds in the advice."""
    monkeypatch.setattr(costs.Budget, "here", classmethod(lambda cls, *a, **k: cls(GB, None, "a test budget")))
    with pytest.raises(
        MemoryLimitError, match=r"needs about .* at 1024 px, 1\.0 GB allowed here .*: choose batch <= \d+"
    ):
        benchmark(B0, image_size=1024, batch=64, runs=1, device="cpu")
    with pytest.raises(MemoryLimitError, match=r"this comparison needs about .*: turn training off"):
        compare(B7, ["FFFMMMM"], image_size=320, runs=1, device="cpu")
    got = benchmark(B0, image_size=64, batch=1, runs=1, warmup=0, device="cpu")  # the next, small one runs
    assert got.latency.total_ms > 0


# --- the machine's limits and the settings ----------------------------------------------------------------------


def _fresh(code: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EFFNETV2_")}
    result = run_python(code, {**clean, "PYTHONPATH": str(ROOT), **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


SETTINGS = (
    "import json; from effnetv2 import costs; from effnetv2.backend import limits\n"
    "print(json.dumps([costs.MAX_REQUEST_MB, limits.MAX_REQUEST_S, costs.MACS_PER_S['cpu']]))\n"
)


def test_settings_defaults_and_environment():
    assert _fresh(SETTINGS) == [None, 120, 5e9]
    assert _fresh(SETTINGS, EFFNETV2_MAX_REQUEST_MB="300", EFFNETV2_MAX_REQUEST_S="30", EFFNETV2_MACS_PER_S="1e10") == [
        300,
        30,
        1e10,
    ]
    assert _fresh(SETTINGS, EFFNETV2_MAX_REQUEST_MB="lots", EFFNETV2_MACS_PER_S="-1") == [None, 120, 5e9]


def test_max_request_mb_from_the_environment_bounds_a_latency_request():
    code = (
        "import json\n"
        "from effnetv2.backend import latency\n"
        "from effnetv2.config import Blocks\n"
        "try:\n"
        "    latency.measure(Blocks.parse('efficientnetv2_b0', None), 640, 16, 1, device='cpu')\n"
        "    print(json.dumps('ran'))\n"
        "except Exception as exc:\n"
        "    print(json.dumps(str(exc)))\n"
    )
    message = _fresh(code, EFFNETV2_MAX_REQUEST_MB="400")
    expected = r"needs about [\d.]+ GB at 640 px, 400 MB allowed here \(EFFNETV2_MAX_REQUEST_MB\): choose batch <= \d+"
    assert re.search(expected, message), message


def test_the_address_space_limit_counts_as_the_machine_memory():
    code = (
        "import json, resource\n"
        "from effnetv2 import costs\n"
        "vm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize:'))\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.RLIM_INFINITY))\n"
        "print(json.dumps([costs.available_bytes('cpu'), costs.Budget.here('cpu').bytes]))\n"
    )
    free, budget = _fresh(code)
    assert 0 < free <= 2**30 and budget == int(costs.MEMORY_FRACTION * free)


def test_training_comparison_is_estimated_before_its_first_step(monkeypatch):
    """The walkthrough's measurements (Table 3: four B4 variants trained at up to 380 px) go through the same check."""
    from effnetv2 import profiling
    from effnetv2.model import create_model

    monkeypatch.setattr(profiling, "_train_step", _never)
    net = create_model("efficientnet_b4")
    policy = costs.Policy(
        seconds=1.0, time_source="a test limit", time_knobs=(("image size", limits.TABLE3_IMAGE_SIZE),)
    )
    with pytest.raises(TimeLimitError, match=r"^this training comparison would take about \d+ s at 380 px on cpu, 1 s"):
        cpu = resolve("cpu")
        profiling.compare_training([("b4", net, 380), ("b4", net, 320)], batch=2, rounds=2, runtime=cpu, policy=policy)
