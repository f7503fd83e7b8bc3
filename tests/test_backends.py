"""Runtime backends of the fast path: same logits as eager, a disk cache, a clean fallback, one-line errors.

A tiny random V2 (one block per stage, quarter width, 10 classes, 64 px) keeps each ONNX export to seconds.
"""

import copy
import dataclasses
import subprocess
import sys

import pytest
import torch

from effnetv2 import (
    ACCURATE_LOGIT_ERROR,
    BackendCacheError,
    BackendError,
    EfficientNet,
    choose_fast_path,
    get_arch,
    logit_error,
    optimize_for_inference,
)
from effnetv2 import backends as rt
from effnetv2.optimize import gate_images

INSTALLED = rt.available_runtimes()
RUNTIMES = [
    pytest.param(n, marks=pytest.mark.skipif(n not in INSTALLED, reason=f"{n} not installed")) for n in rt.RUNTIMES
]
ALL = ("eager", *rt.RUNTIMES)
SIZE = 64


@pytest.fixture(scope="module")
def tiny() -> EfficientNet:
    arch = dataclasses.replace(get_arch("efficientnetv2_b0"), depth=0.1, width=0.25, image_size=SIZE)
    torch.manual_seed(0)
    model = EfficientNet(arch.scaled(), num_classes=10).eval()
    with torch.no_grad():  # BN statistics that are not the identity, so folding them is really tested
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="module")
def photos(tiny) -> torch.Tensor:
    return gate_images(tiny)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Each test its own cache folder, and the automatic choice free to use every backend."""
    monkeypatch.setenv(rt.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(rt.BACKENDS_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@pytest.mark.parametrize("name", RUNTIMES)
def test_runtime_logits_match_eager(tiny, photos, name, monkeypatch, shared_cache):
    monkeypatch.setenv(rt.CACHE_ENV, str(shared_cache))  # one export for both runtimes
    fast = optimize_for_inference(tiny, backend=name)
    assert isinstance(fast, rt.RuntimeModel) and fast.backend.startswith(rt.RUNTIMES[name])
    x = torch.cat([photos, photos.flip(-1)])[:3]  # a batch size the export never saw
    with torch.inference_mode():
        want, got = tiny(x), fast(x)
    assert fast.last_backend == name and got.dtype == torch.float32 and got.shape == want.shape
    assert want.abs().max() > 0.05  # the comparison means something
    assert logit_error(got, want) < 1e-4  # fp32 rounding only
    other = torch.nn.functional.interpolate(x, size=(SIZE + 8, SIZE + 8))
    with torch.inference_mode():  # another size: the eager model inside serves it
        assert logit_error(fast(other), tiny(other)) < 1e-4
    assert fast.last_backend == "eager" and [n for n, _ in fast.eager.stages()] == tiny.stage_names


@pytest.mark.skipif(not INSTALLED, reason="no runtime installed")
def test_choice_is_measured_once_and_cached(tiny, photos, monkeypatch):
    first = choose_fast_path(tiny, photos, backends=ALL)
    assert set(first.backend_errors) == set(INSTALLED) and not first.rejected
    assert all(e < 1e-4 for e in first.backend_errors.values())
    assert set(first.timings_ms) == set(rt.PROBE_BATCHES) and "eager" in first.timings_ms[1]
    plan = {b: min(ms, key=ms.__getitem__) for b, ms in first.timings_ms.items()}
    assert first.backend == getattr(first.model, "backend", "eager")
    if set(plan.values()) != {"eager"}:
        assert first.model.plan == plan and first.summary.startswith(f"fp32, {first.backend}")
        # a reduced-precision eager model (bf16/fp16 where the CPU has it) is named, never passed off as fp32
        assert first.summary.endswith(f"eager model in {first.dtype}") == (first.dtype != "fp32")

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(rt, "export_onnx", no_export)
    monkeypatch.setattr(rt, "time_backends", no_export)
    second = choose_fast_path(tiny, photos, backends=ALL)
    assert second.timings_ms == {} and second.backend == first.backend  # plan and file from the disk cache
    with torch.inference_mode():
        assert logit_error(second.model(photos), tiny(photos)) < 1e-4


@pytest.mark.skipif(not INSTALLED, reason="no runtime installed")
def test_export_is_cached_on_disk_by_weights_and_size(tiny, cache, monkeypatch):
    calls = []
    real = rt.export_onnx
    monkeypatch.setattr(rt, "export_onnx", lambda *a: calls.append(a[1:3]) or real(*a))
    path, exported = rt.onnx_file(tiny, SIZE, SIZE)
    assert exported and path.is_file() and path.parent.parent == cache
    assert rt.onnx_file(tiny, SIZE, SIZE) == (path, False) and len(calls) == 1  # the second call reads the file
    assert rt.onnx_file(tiny, SIZE, SIZE + 8)[0] != path  # another input layout, another file
    changed = copy.deepcopy(tiny)
    with torch.no_grad():
        changed.head.classifier.bias[0] += 1e-3
    assert rt.onnx_file(changed, SIZE, SIZE)[0] != path  # other weights, another file
    assert not list(cache.rglob("*.tmp"))  # written through a temporary name, nothing left behind


def _without(monkeypatch, *modules):
    """Make importing ``modules`` fail, as on a machine that has only requirements.txt."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("missing", [("onnxruntime", "openvino"), ("onnxscript",)], ids=["runtimes", "exporter"])
def test_fallback_to_eager_when_runtimes_are_absent(tiny, photos, monkeypatch, missing):
    _without(monkeypatch, *missing)
    assert rt.available_runtimes() == {}
    chosen = choose_fast_path(tiny, photos, backends=ALL)
    assert isinstance(chosen.model, EfficientNet) and chosen.backend == "eager" and chosen.model.backend == "eager"
    assert set(chosen.rejected) == set(rt.RUNTIMES) and all("not installed" in r for r in chosen.rejected.values())
    auto = optimize_for_inference(tiny)  # the default: this machine's fast path, here the eager model
    assert isinstance(auto, EfficientNet) and auto.backend == "eager"
    with pytest.raises(BackendError, match=r"^ONNX Runtime \(with onnx and onnxscript\) is not installed$"):
        optimize_for_inference(tiny, backend="onnxruntime")


@pytest.mark.parametrize("name", RUNTIMES)
def test_broken_cached_file_is_one_typed_line(tiny, photos, name, monkeypatch):
    path, _ = rt.onnx_file(tiny, SIZE, SIZE)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # truncated, as by a full disk
    with pytest.raises(BackendCacheError) as info:
        optimize_for_inference(tiny, backend=name)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "delete it to re-export" in message
    assert message.startswith(f"{rt.RUNTIMES[name]} cannot read the cached model")
    chosen = choose_fast_path(tiny, photos, backends=("eager", name))  # the app's path keeps working
    assert chosen.backend == "eager" and chosen.rejected[name] == message


def test_backend_names_and_environment_are_checked(tiny, photos, monkeypatch):
    with pytest.raises(BackendError, match=r"^backend must be one of auto, eager, onnxruntime, openvino, got 'trt'$"):
        optimize_for_inference(tiny, backend="trt")
    monkeypatch.setenv(rt.BACKENDS_ENV, "eager")
    assert rt.allowed_backends() == ("eager",)
    assert choose_fast_path(tiny, photos).backend == "eager"  # the deployer's switch: nothing exported
    assert not rt.cache_dir().exists()
    monkeypatch.setenv(rt.BACKENDS_ENV, "openvino")
    assert rt.allowed_backends() == ("eager", "openvino")  # eager is always a candidate
    monkeypatch.setenv(rt.BACKENDS_ENV, "eager,tensorrt")
    with pytest.raises(BackendError, match="got 'tensorrt'"):
        rt.allowed_backends()


def test_runtime_backend_is_fp32_on_cpu_only(tiny):
    from effnetv2 import UnsupportedDtypeError

    with pytest.raises(UnsupportedDtypeError, match=r"^the OpenVINO backend runs fp32 only, got 'bf16'; use fp32$"):
        rt.runtime_model(tiny, "openvino", "bf16", torch.zeros(1, 3, SIZE, SIZE), ACCURATE_LOGIT_ERROR)


def test_importing_the_package_imports_no_runtime():
    code = (
        "import effnetv2, sys; print(sorted(m for m in ('onnxruntime', 'openvino', 'onnxscript') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-500:]


@pytest.mark.slow
@pytest.mark.skipif(not INSTALLED, reason="no runtime installed")
def test_bench_cpu_peers_smoke_run(tmp_path):
    import json
    from pathlib import Path

    out = tmp_path / "out.json"
    script = Path(__file__).resolve().parents[1] / "bench" / "bench_cpu_peers.py"
    args = ["--models", "b0", "--batches", "1", "--size", "64", "--runs", "2", "--fresh", "--json", str(out)]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| model |" in proc.stdout and "ours-fast" in proc.stdout
    rows = {r["variant"]: r for r in json.loads(out.read_text())["results"]}
    default = {"timm-openvino-default"} if "openvino" in INSTALLED else set()  # OpenVINO without settings
    assert {"timm-eager", "ours-fast", "ours-eager", *(f"timm-{n}" for n in INSTALLED), *default} == set(rows)
    assert all(r["median_ms"] > 0 for r in rows.values())
    # fp32 everywhere but OpenVINO left to its defaults, which is bf16 on a CPU with native bf16: random weights
    # at 64 px put its error anywhere near the gate, so its verdict must follow the gate
    assert all(r["accurate"] for name, r in rows.items() if name not in default)
    for name in default:
        assert rows[name]["accurate"] == (rows[name]["logit_error_pct"] <= 100 * ACCURATE_LOGIT_ERROR)
    assert rows["ours-fast"]["best_peer"] in rows and rows["ours-fast"]["served_by"] in ALL
