"""Reduced precision: the dtype names, what this hardware does with each, and the two ways the project uses one.

The one home for dtype facts. Reduced precision means two different things here, and both are checked by
:func:`check_dtype`:

- ``"autocast"`` (:class:`effnetv2.devices.Runtime`, the profiler, the Latency tab): the weights stay fp32 and
  convolutions and matrix products run in bf16/fp16, op by op, as training and most deployments do it.
- ``"cast"`` (:func:`effnetv2.optimize_for_inference`): weights and activations are *stored* in the dtype, and
  on CPU the fused oneDNN kernels run them where this CPU can (see :attr:`CpuCapabilities.onednn_fused`).

Whether a dtype is *supported* (it runs and gives the right numbers) and whether it is *fast* (native units:
AVX-512 BF16 / AMX on CPU, tensor cores on CUDA) are separate facts. On a CPU without native bf16 (AMD Zen 3,
AVX2 only) bf16 autocast runs through ATen's generic kernels (correct, several times slower than fp32), and a
bf16 cast model is refused in one line, since oneDNN's bf16 kernels cannot run there. The CPU facts come from
:func:`cpu_capabilities`, a probe that runs the kernels rather than trusting flags; tests and benchmarks
override it with :func:`assume_cpu` to exercise the other kind of machine.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

import torch
import torch.nn.functional as F

from .errors import UnsupportedDtypeError

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Every precision the project knows, by the name users type."""
DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)
REDUCED: tuple[str, ...] = ("fp16", "bf16")
"""The reduced precisions, in order of preference when both are fast (fp16 has three more mantissa bits)."""

Use = Literal["autocast", "cast"]


@cache
def cpu_name() -> str:
    """The processor's marketing name (Linux /proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass(frozen=True)
class CpuCapabilities:
    """What this CPU does with reduced precision, as measured by :func:`probe_cpu`."""

    name: str
    native_bf16: bool
    """AVX-512 BF16 or AMX-BF16: the units that make bf16 faster than fp32 (torch's own check)."""
    native_fp16: bool
    """AMX-FP16."""
    onednn_fused: frozenset[str] = field(default_factory=frozenset)
    """Dtypes in which oneDNN's fused conv (+ SiLU / + add) op runs here and agrees with conv + SiLU.

    bf16 needs AVX-512 BW/VL/DQ or AVX-NE-CONVERT for it; without, oneDNN refuses at run time ("bf16 path
    needs the cpu support ..."), so the fast path must not choose it from a flag that merely says "bf16".
    """


def _fused_conv_agrees(dtype: torch.dtype) -> bool:
    """Run ``mkldnn::_convolution_pointwise`` (SiLU, ReLU6 and add post-ops) in ``dtype`` on a tiny input."""
    try:
        op = torch.ops.mkldnn._convolution_pointwise
        g = torch.Generator().manual_seed(0)
        cl = torch.channels_last
        x = torch.randn(1, 8, 5, 6, generator=g).to(dtype).contiguous(memory_format=cl)
        w = torch.randn(8, 8, 3, 3, generator=g).to(dtype).contiguous(memory_format=cl)
        b = torch.randn(8, generator=g).to(dtype)
        other = torch.randn(1, 8, 5, 6, generator=g).to(dtype).contiguous(memory_format=cl)
        with torch.no_grad():
            ref = F.conv2d(x.float(), w.float(), b.float(), 1, 1)
            act = op(x, w, b, [1, 1], [1, 1], [1, 1], 1, "swish", [], "").float()
            relu6 = op(x, w, b, [1, 1], [1, 1], [1, 1], 1, "hardtanh", [0.0, 6.0], "").float()  # Lite's ReLU6
            add = op.binary(x, other, w, b, [1, 1], [1, 1], [1, 1], 1, "add", None, None, [], None).float()
            packed = torch.ops.mkldnn._reorder_convolution_weight(w, [1, 1], [1, 1], [1, 1], 1, list(x.shape))
            op(x, packed, b, [1, 1], [1, 1], [1, 1], 1, "none", [], "")
        tol = 1e-4 if dtype == torch.float32 else 0.1 * float(ref.abs().max())
        return (
            torch.allclose(act, F.silu(ref), atol=tol)
            and torch.allclose(relu6, F.relu6(ref), atol=tol)  # ref spans about -20..20: the clamp at 6 is hit
            and torch.allclose(add, ref + other.float(), atol=tol)
        )
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def _has_amx_fp16() -> bool:
    """AMX-FP16 (Granite Rapids on). oneDNN's own fp16 check also passes on AVX-512 FP16 alone (Sapphire
    Rapids), where an fp16 model ran slower than fp32 and than AMX bf16 (B0, batch 1: 125 / 105 / 92 ms), so
    that check alone would make fp16 the "fast" dtype there."""
    check = getattr(torch.cpu, "_is_amx_fp16_supported", None)
    return bool(check and check())


def probe_cpu() -> CpuCapabilities:
    """Measure the CPU's reduced-precision facts (a few milliseconds); use the cached :func:`cpu_capabilities`."""
    mkldnn = torch.backends.mkldnn.is_available()
    fused = frozenset(n for n in ("fp32", "bf16") if mkldnn and _fused_conv_agrees(DTYPES[n]))
    return CpuCapabilities(
        name=cpu_name(),
        native_bf16=bool(mkldnn and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        native_fp16=bool(mkldnn and torch.ops.mkldnn._is_mkldnn_fp16_supported() and _has_amx_fp16()),
        onednn_fused=fused,
    )


@cache
def _probed() -> CpuCapabilities:
    return probe_cpu()


_assumed: list[CpuCapabilities] = []


def cpu_capabilities() -> CpuCapabilities:
    """This CPU's capabilities, probed once per process, unless :func:`assume_cpu` is in force."""
    return _assumed[-1] if _assumed else _probed()


@contextlib.contextmanager
def assume_cpu(capabilities: CpuCapabilities) -> Iterator[CpuCapabilities]:
    """Decide as if the CPU had ``capabilities`` (tests and benchmarks play the other kind of machine).

    Only decisions change: a kernel this CPU cannot run still fails when it runs.
    """
    _assumed.append(capabilities)
    try:
        yield capabilities
    finally:
        _assumed.remove(capabilities)


@dataclass(frozen=True)
class DtypeSupport:
    """Whether a dtype runs on a device for one use, whether the hardware has fast units for it, and why."""

    dtype: str
    supported: bool
    fast: bool
    note: str


def _cpu_support(caps: CpuCapabilities, use: Use) -> dict[str, DtypeSupport]:
    """Autocast runs anything (emulated where the units are missing); cast weights only run on real kernels.

    A cast model without oneDNN's bf16 kernels (or, for fp16, without AMX-FP16) would fall back to ATen's
    generic reduced-precision convolutions: several times slower than fp32 and less accurate, which nobody
    asks a fast path for. So that is refused in one line, while autocast stays available for measuring.
    """
    bf16_fast = caps.native_bf16 and "bf16" in caps.onednn_fused
    if use == "autocast":
        bf16_ok, fp16_ok = True, True
    else:
        bf16_ok, fp16_ok = "bf16" in caps.onednn_fused, caps.native_fp16
    emulated = "emulated, several times slower than fp32"
    if bf16_fast:
        bf16_note = "oneDNN with AVX-512 BF16 / AMX"
    elif bf16_ok:
        bf16_note = f"no native bf16 units on {caps.name}: {emulated}"
    else:
        bf16_note = f"{caps.name} has no native bf16 (AVX-512 BF16 / AMX) for oneDNN's bf16 kernels"
    if caps.native_fp16:
        fp16_note = "AMX-FP16"
    elif fp16_ok:
        fp16_note = f"no AMX-FP16 units on {caps.name}: {emulated}"
    else:
        fp16_note = f"{caps.name} has no AMX-FP16 for fp16 kernels"
    return {
        "bf16": DtypeSupport("bf16", bf16_ok, bf16_fast, bf16_note),
        "fp16": DtypeSupport("fp16", fp16_ok, caps.native_fp16, fp16_note),
    }


def _cuda_support(device: torch.device) -> dict[str, DtypeSupport]:
    major, minor = torch.cuda.get_device_capability(device)
    note = f"{torch.cuda.get_device_name(device)}, compute capability {major}.{minor}"
    bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    return {
        "bf16": DtypeSupport("bf16", bf16, bf16, note if bf16 else f"{note}: no native bf16 (8.0+ needed)"),
        "fp16": DtypeSupport("fp16", True, major >= 7, note),
    }


def dtype_support(device: torch.device | str = "cpu", use: Use = "cast") -> dict[str, DtypeSupport]:
    """What each of fp32 / bf16 / fp16 does on ``device`` (a resolved device; default the CPU) for ``use``."""
    dev = torch.device(device)
    out = {"fp32": DtypeSupport("fp32", True, True, "reference precision")}
    if dev.type == "cpu":
        out.update(_cpu_support(cpu_capabilities(), use))
    elif dev.type == "cuda":
        out.update(_cuda_support(dev))
    else:
        available = torch.amp.is_autocast_available(dev.type)
        for name in REDUCED:
            out[name] = DtypeSupport(name, available, False, f"not measured on {dev.type}")
    return out


def fastest_dtype(device: torch.device | str = "cpu") -> str:
    """The reduced precision with native units on ``device``, else fp32.

    fp16 is preferred when both are fast (CUDA tensor cores): three more mantissa bits. Whether a dtype is
    accurate enough for a given model and image is measured by the fast path's accuracy gate
    (:func:`effnetv2.optimize.choose_fast_path`), not assumed.
    """
    support = dtype_support(device)
    return next((n for n in REDUCED if support[n].supported and support[n].fast), "fp32")


def check_dtype(dtype: object, device: torch.device | str, use: Use) -> str:
    """``dtype`` if it runs on ``device`` for ``use``; else one :class:`UnsupportedDtypeError` line saying why."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise UnsupportedDtypeError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got {dtype!r}")
    if dtype == "fp32":
        return dtype
    dev = torch.device(device)
    if use == "autocast" and not torch.amp.is_autocast_available(dev.type):
        raise UnsupportedDtypeError(f"{dtype} autocast is not available on {dev.type}; use fp32")
    support = dtype_support(dev, use)[dtype]
    if not support.supported:
        raise UnsupportedDtypeError(f"{dtype} is not supported on {dev}: {support.note}; use fp32")
    return dtype
