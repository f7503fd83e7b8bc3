"""Where and in what precision the analysis runs: device, autocast dtype, memory format, and how to say so.

Timings are meaningless without their context, so :class:`Runtime` also describes itself (device name,
dtype, threads) for every report. Reduced precision here is autocast (weights stay fp32, matmuls and convs run
in bf16/fp16; see :mod:`effnetv2.precision` for the other meaning), which is what training and most
deployments use and needs no converted copy of the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .errors import DeviceError, MemoryLimitError
from .precision import DTYPES, check_dtype, cpu_name

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``None``/``"auto"`` -> CUDA when available, else CPU; a device this machine lacks is a clear error."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r} requested but CUDA is not available here; use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"device {str(device)!r} requested but MPS is not available here; use cpu")
    elif dev.type != "cpu":
        raise DeviceError(f"device type {dev.type!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def device_name(device: torch.device) -> str:
    """A human name for reports: ``cpu (Intel Xeon ...)`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({cpu_name()})"
    return str(device)


@dataclass(frozen=True)
class Runtime:
    """A resolved device + autocast dtype + memory format; build it with :func:`resolve`."""

    device: torch.device
    dtype: str = "fp32"
    channels_last: bool = False

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def name(self) -> str:
        return device_name(self.device)

    @property
    def threads(self) -> int:
        """CPU threads torch uses (on CUDA these only drive the launches, but they are still reported)."""
        return torch.get_num_threads()

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the reduced dtype, or nothing at all for fp32."""
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.dtype])

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move ``model`` (in place, like ``.to``) to the device and memory format."""
        return model.to(device=self.device, memory_format=self.memory_format)

    def input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(device=self.device).contiguous(memory_format=self.memory_format)

    def synchronize(self) -> None:
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, object]:
        return {"device": self.name, "dtype": self.dtype, "threads": self.threads, "channels_last": self.channels_last}


def resolve(device: str | torch.device | None = "auto", dtype: str = "fp32", channels_last: bool = False) -> Runtime:
    """Check a device/dtype/memory-format request once, up front, so a bad one fails before any work."""
    dev = resolve_device(device)
    return Runtime(dev, check_dtype(dtype, dev, "autocast"), bool(channels_last))


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's ``torch.OutOfMemoryError`` or the CPU allocator's failure (a plain ``RuntimeError``)."""
    text = str(exc)
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text


@contextlib.contextmanager
def memory_guard(setting: str) -> Iterator[None]:
    """Turn an allocation failure inside torch into a one-line :class:`MemoryLimitError` naming ``setting``.

    Why: torch reports it as a C++ assertion ("[enforce fail at alloc_cpu.cpp ...]"), which tells a user
    nothing about what to change. The tensors of the failed call are freed with it, and on CUDA the cached
    blocks are released, so the process can serve the next, smaller request.
    """
    try:
        yield
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        exc.__traceback__ = None  # drop the failed call's frames, and with them its tensors
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        raise MemoryLimitError(f"out of memory for {setting}: use a smaller batch or image size", setting) from None
