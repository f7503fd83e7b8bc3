"""Runtime backends for the CPU fast path: this model exported to ONNX, run by ONNX Runtime or OpenVINO.

Why: on CPUs without native bf16 (AVX2-only AMD EPYC) both runtimes ran V2-S and B0 1.35-1.7x faster than
the oneDNN eager fast path (graph-level fusions, their own conv kernels, no Python between ops). They are
optional: without them (``requirements.txt`` only) the fast path is the eager oneDNN model, and nothing here
is imported until a fast path is built.

- The graph exported is OUR model's: BatchNorm folded, fp32, NCHW, TF "SAME" padding computed from the
  fixed image size (so it becomes the convolutions' own asymmetric pads), squeeze-and-excitation as
  mean + 1x1 convs; the batch axis stays dynamic. Other image sizes are served by the eager model.
- Export takes seconds to a minute (V2-S on 2 cores), so it is done lazily on first use, never at import,
  and the file is cached on disk: ``$EFFNETV2_CACHE`` (default ``~/.cache/effnetv2``), named by a hash of
  the weights and architecture, the input layout and the exporter's versions. A cached file that no
  runtime can read raises :class:`~effnetv2.errors.BackendCacheError` in one line.
- Each runtime's logits are checked against the eager model on the gate images before it is used.
- Which backend serves which batch size is decided by timing them once on this machine
  (:func:`select`), and the decision is cached on disk beside the exported file.
- ``$EFFNETV2_BACKENDS`` (comma-separated, e.g. ``eager`` or ``eager,openvino``) limits what the automatic
  choice may consider; a deployer's switch, also used by the test suite to keep app tests fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import math
import os
import statistics
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import settings
from .errors import BackendCacheError, BackendError, UnsupportedDtypeError
from .layers import SqueezeExcite
from .measure import Schedule, interleave, timed

RUNTIMES: dict[str, str] = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
"""The runtime backends, by the name users pass (``backend=``), with the name shown to people."""
BACKENDS: tuple[str, ...] = ("eager", *RUNTIMES)
CACHE_ENV = settings.CACHE.name
BACKENDS_ENV = settings.BACKENDS.name
EXPORT_VERSION = 1
"""Part of every cache key: bump it when the exported graph changes, so stale files are not reused."""
PROBE_BATCHES: tuple[int, ...] = (1, 8)
"""Batch sizes the choice is timed at: one image (the app) and a small batch (throughput)."""
_EXPORTER = ("onnxscript", "onnx")


# ---------------------------------------------------------------------------------------------------------
# What is installed and allowed


def _version(module: str) -> str | None:
    """The module's version if it imports, else None (a failed import means 'not installed')."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # ImportError, or a broken install that fails while importing
        return None


def available_runtimes() -> dict[str, str]:
    """name -> version of each runtime that imports here, with the ONNX exporter it needs (onnxscript, onnx)."""
    if any(_version(m) is None for m in _EXPORTER):
        return {}
    found = {name: _version(name) for name in RUNTIMES}
    return {name: v for name, v in found.items() if v is not None}


def check_backend(name: object) -> str:
    """``name`` if it is a backend this project knows or ``"auto"``; else one :class:`BackendError` line."""
    if name == "auto" or name in BACKENDS:
        return str(name)
    raise BackendError(f"backend must be one of auto, {', '.join(BACKENDS)}, got {name!r}")


def allowed_backends() -> tuple[str, ...]:
    """The backends the automatic choice may use: ``$EFFNETV2_BACKENDS`` if set, else all; eager always."""
    value = os.environ.get(BACKENDS_ENV, "").strip()
    if not value:
        return BACKENDS
    names = [check_backend(n.strip()) for n in value.split(",") if n.strip()]
    return tuple(n for n in BACKENDS if n in names or n == "eager")


def cache_dir() -> Path:
    """Where exported models and backend decisions are kept (created on first write)."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "effnetv2"


# ---------------------------------------------------------------------------------------------------------
# Export


def weights_digest(model: nn.Module) -> str:
    """sha256 of the architecture and every tensor of the state dict (names, shapes, dtypes, bytes)."""
    h = hashlib.sha256(f"{type(model).__name__}|{getattr(model, 'spec', None)!r}|{EXPORT_VERSION}".encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _export_graph(model: nn.Module) -> nn.Module:
    """The fp32 folded model with nothing an exporter cannot see: no oneDNN ops, NCHW, SE on 1x1 convs.

    SE as mean + 1x1 convs (as timm's graph has it) exports to 4 nodes that both runtimes fuse; the eager
    path's matrix-product version exports to 9 (reshapes, sums, divisions).
    """
    from .optimize import SqueezeExciteGemm, build_eager

    graph = build_eager(model, dtype="fp32", channels_last=False, device=torch.device("cpu"), fuse=False)
    for parent in list(graph.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, SqueezeExciteGemm):
                plain = SqueezeExcite(child.reduce.in_channels, child.reduce.out_channels)
                plain.load_state_dict(child.state_dict())
                setattr(parent, child_name, plain.eval())
    return graph


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary name in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_onnx(model: nn.Module, height: int, width: int, path: Path) -> None:
    """Export ``model`` (fp32, input (batch, 3, height, width), dynamic batch) to ``path`` as one ONNX file."""
    graph = _export_graph(model)
    example = torch.zeros(2, 3, height, width)  # batch 2: a batch of 1 would be specialized to 1
    batch = torch.export.Dim("batch", min=1, max=1024)

    def write(tmp: Path) -> None:
        # The exporter reports progress on stdout and warns about things that do not concern users.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                (example,),
                str(tmp),
                input_names=["images"],
                output_names=["logits"],
                dynamic_shapes={"x": {0: batch}},
                dynamo=True,
                external_data=False,
            )

    try:
        _write_atomically(path, write)
    except BackendError:
        raise
    except Exception as e:  # the exporter's errors are many and long: one line, the first of its message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"exporting {type(model).__name__} to ONNX failed: {first}") from e


def onnx_file(model: nn.Module, height: int, width: int, digest: str | None = None) -> tuple[Path, bool]:
    """(path, exported now?): the cached ONNX file of ``model`` at ``height`` x ``width``, exported if missing.

    Named by the weights' digest, the input layout and the exporter's versions: a changed weight, size or
    exporter gets a new file, an unchanged one is never exported twice.
    """
    versions = "-".join(f"{m}{_version(m)}" for m in ("torch", *_EXPORTER))
    layout = f"Nx3x{height}x{width}-fp32-nchw"
    key = hashlib.sha256(f"{digest or weights_digest(model)}|{layout}|{versions}".encode()).hexdigest()[:24]
    path = cache_dir() / "onnx" / f"{key}-{layout}.onnx"
    if path.is_file():
        return path, False
    export_onnx(model, height, width, path)
    return path, True


# ---------------------------------------------------------------------------------------------------------
# Sessions


Runner = Callable[[torch.Tensor], torch.Tensor]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _parts(x: torch.Tensor, streams: int) -> list[torch.Tensor]:
    """A batch cut into at most ``streams`` contiguous sub-batches (one per core), in order."""
    return [p.contiguous() for p in torch.tensor_split(x, min(streams, x.shape[0]))]


def _onnxruntime(path: Path, threads: int, split: bool) -> Runner:
    import onnxruntime as ort

    def session(intra: int) -> Any:
        so = ort.SessionOptions()
        so.intra_op_num_threads = intra
        so.inter_op_num_threads = 1
        # Idle intra-op threads spin by default and take the cores from whatever runs next in this process
        # (the web server, another model): measured to inflate the next op's time by 1.7x on 2 cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    latency = session(threads)
    name = latency.get_inputs()[0].name
    streams: list[Any] = []  # a one-thread session and a pool, made on the first batch that is split
    lock = threading.Lock()

    def one(s: Any, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(s.run(None, {name: x.numpy()})[0])

    def run(x: torch.Tensor) -> torch.Tensor:
        if not split or threads < 2 or x.shape[0] < 2:
            return one(latency, x)
        with lock:
            if not streams:
                from concurrent.futures import ThreadPoolExecutor

                # With one intra-op thread a run works on its caller's thread, so one session serves
                # ``threads`` concurrent sub-batches (weights loaded once).
                streams.extend([session(1), ThreadPoolExecutor(threads, thread_name_prefix="effnetv2-ort")])
        single, pool = streams
        return torch.cat([f.result() for f in [pool.submit(one, single, p) for p in _parts(x, threads)]])

    return run


def _openvino(path: Path, threads: int, split: bool) -> Runner:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    # OpenVINO runs in bf16 by default on CPUs with native bf16 (AVX-512 BF16, AMX): 0.3% logit error where this
    # backend is documented and gated as fp32; the hint keeps it fp32 on every CPU.
    fp32 = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    latency = core.compile_model(model, "CPU", {**fp32, "PERFORMANCE_HINT": "LATENCY"})
    request = latency.create_infer_request()
    streams: list[Any] = []  # a compiled model with one stream per core and its queue, made when first needed
    lock = threading.Lock()  # an infer request (and the queue) serves one call at a time

    def run(x: torch.Tensor) -> torch.Tensor:
        with lock:
            if not split or threads < 2 or x.shape[0] < 2:
                return torch.from_numpy(request.infer({0: x.numpy()}, share_inputs=True, share_outputs=False)[0])
            if not streams:
                config = {**fp32, "NUM_STREAMS": threads, "PERFORMANCE_HINT": "THROUGHPUT"}
                streams.append(ov.AsyncInferQueue(core.compile_model(model, "CPU", config), threads))
            queue = streams[0]
            parts = _parts(x, threads)
            outs: list[torch.Tensor | None] = [None] * len(parts)
            queue.set_callback(
                lambda req, i: outs.__setitem__(i, torch.from_numpy(req.get_output_tensor(0).data.copy()))
            )
            for i, part in enumerate(parts):
                queue.start_async({0: part.numpy()}, i)
            queue.wait_all()
        return torch.cat(outs)

    return run


_LOADERS: dict[str, Callable[[Path, int, bool], Runner]] = {"onnxruntime": _onnxruntime, "openvino": _openvino}


def load_runtime(runtime: str, path: Path, threads: int | None = None, *, split: bool = True) -> Runner:
    """A callable (N, 3, H, W) fp32 CPU tensor -> fp32 logits running ``path`` on ``runtime``.

    ``split``: a batch of several images runs as one sub-batch per thread, concurrently, each on one core
    (ORT: one-thread runs on a small pool; OpenVINO: one stream per core). Per-op synchronisation between
    cores is what costs at these small feature maps. On the 2-core EPYC at batch 8: 0.7-0.85x the time of
    one batch on both cores for both runtimes (B0 at 224, load average 4), 0.89-0.95x against the same
    runtime unsplit in the quiet benchmark (docs/performance-cpu.md). Batch 1 always uses every thread.
    ``split=False`` is how a user calls a runtime (the benchmark's peers).

    A file that the runtime cannot read raises :class:`BackendCacheError` (delete it and it is exported
    again); a runtime that is not installed raises :class:`BackendError`.
    """
    if runtime not in _LOADERS:
        raise BackendError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if _version(runtime) is None:
        raise BackendError(f"{RUNTIMES[runtime]} is not installed (pip install -r requirements-dev.txt)")
    try:
        return _LOADERS[runtime](path, threads or torch.get_num_threads(), split)
    except Exception as e:
        raise BackendCacheError(
            f"{RUNTIMES[runtime]} cannot read the cached model {path} ({_first_line(e)}); delete it to re-export"
        ) from e


# ---------------------------------------------------------------------------------------------------------
# The model users get


class RuntimeModel(nn.Module):
    """This model on runtime backends at one image size, with the eager model for every other case.

    A callable on a batch of preprocessed images (N, 3, H, W) returning fp32 logits, like the eager model.
    ``plan`` maps a batch size to the backend timed fastest for it; a batch uses the plan's entry nearest in
    size (log scale). Inputs of another image size, on another device, or needing gradients go to
    ``eager`` (the optimized eager model; its stages serve per-stage timing and Grad-CAM). ``backend`` says
    what serves requests; ``last_backend`` what served the last call.
    """

    def __init__(
        self,
        eager: nn.Module,
        runners: Mapping[str, Runner],
        plan: Mapping[int, str],
        image_size: tuple[int, int],
        versions: Mapping[str, str],
    ):
        super().__init__()
        self.eager = eager
        self._runners = dict(runners)
        self.plan = dict(sorted(plan.items()))
        self.image_size = tuple(image_size)
        self.versions = dict(versions)
        self.inference_dtype = "fp32"
        self.last_backend: str | None = None

    def backend_for(self, batch: int) -> str:
        """The backend that serves a batch of ``batch`` images of the exported size."""
        key = min(self.plan, key=lambda b: (abs(math.log2(b / max(batch, 1))), b))
        return self.plan[key]

    @property
    def backend(self) -> str:
        """One line for people: e.g. ``OpenVINO 2026.4.1`` or ``ONNX Runtime 1.32.0 (batch 1), ...``."""
        names = list(dict.fromkeys(self.plan.values()))
        if len(names) == 1:
            return self.describe(names[0])
        return ", ".join(f"{self.describe(n)} (batch {b})" for b, n in self.plan.items())

    def describe(self, name: str) -> str:
        version = self.versions.get(name, "").split("-")[0]  # OpenVINO's carries its build: 2026.4.1-22982-...
        return "eager oneDNN" if name == "eager" else f"{RUNTIMES[name]} {version}".strip()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        name = self.backend_for(x.shape[0]) if x.ndim == 4 else "eager"
        exported = tuple(x.shape[-2:]) == self.image_size and x.shape[1] == 3
        if name == "eager" or not exported or x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
            self.last_backend = "eager"
            return self.eager(x)
        self.last_backend = name
        return self._runners[name](x.detach().to(torch.float32).contiguous())

    def __getstate__(self) -> dict:
        raise TypeError("a RuntimeModel holds runtime sessions, which do not copy or pickle; pickle .eager")

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, backend={self.backend!r}"


# ---------------------------------------------------------------------------------------------------------
# Choosing


def _median_times(
    calls: Mapping[str, Callable[[], object]], *, budget_s: float, rounds: tuple[int, int]
) -> dict[str, float]:
    """Median ms per call over interleaved rounds (rotating order) after a warm-up, by the measurement core
    (:func:`effnetv2.measure.interleave`).

    ``rounds`` = (at least, at most); between them, as many as ``budget_s`` allows. Interleaving exposes
    every candidate to the same drift of a shared machine. The fastest of 5 runs, tried first, picked ONNX
    Runtime for V2-S at 384 where the 20-run benchmark had OpenVINO 4% faster: close runtimes need more runs.
    """
    schedule = Schedule(min_rounds=rounds[0], max_rounds=rounds[1], budget_s=budget_s, precision=0.0,
                        min_warmup=1, max_warmup=3)  # fmt: skip
    timings = interleave({name: timed(call) for name, call in calls.items()}, schedule)
    return {name: statistics.median(timings.of(name)) for name in calls}


def _decision_path(key: str) -> Path:
    return cache_dir() / "decisions" / f"{key}.json"


def _read_decision(path: Path, candidates: set[str]) -> dict[int, str] | None:
    try:
        data = json.loads(path.read_text())
        plan = {int(b): str(n) for b, n in data["plan"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or unreadable: measure again (a decision is cheap to remake)
    return plan if plan and set(plan.values()) <= candidates else None


def time_backends(
    candidates: Mapping[str, Callable[[torch.Tensor], object]],
    images: torch.Tensor,
    batches: tuple[int, ...] = PROBE_BATCHES,
) -> dict[int, dict[str, float]]:
    """ms per batch for each candidate (median of interleaved runs, a few seconds) at each batch size.

    Batches are made of ``images`` repeated: real photos, so no backend is timed on unusual numbers.
    """
    out: dict[int, dict[str, float]] = {}
    for b in batches:
        x = images[torch.arange(b) % images.shape[0]].contiguous()
        calls = {n: (lambda f=f, x=x: f(x)) for n, f in candidates.items()}
        with torch.inference_mode():
            out[b] = _median_times(calls, budget_s=4.0, rounds=(7, 15) if b == 1 else (3, 7))
    return out


def check_runtimes(
    model: nn.Module,
    images: torch.Tensor,
    runtimes: tuple[str, ...],
    *,
    gate: float,
    strict: bool = False,
    digest: str | None = None,
) -> tuple[dict[str, Runner], dict[str, float], dict[str, str], str]:
    """Each runtime exported (or read from the cache), loaded and kept if its logits pass ``gate``.

    Returns (runners, errors, rejected, weights digest): ``errors`` is each loaded runtime's
    :func:`effnetv2.logit_error` against the plain ``model`` on ``images``; ``rejected`` the one-line reason
    for every runtime left out (not installed, export or load failed, over the gate). ``strict``: raise
    that reason as its :class:`BackendError` instead (a runtime asked for by name).
    """
    from .optimize import logit_error

    height, width = images.shape[-2:]
    versions = available_runtimes()
    errors: dict[str, float] = {}
    rejected: dict[str, str] = {}
    runners: dict[str, Runner] = {}
    if not runtimes:
        return runners, errors, rejected, digest or ""
    with torch.inference_mode():
        reference = model(images)
    digest = digest or weights_digest(model)
    for name in runtimes:
        try:
            if name not in versions:
                raise BackendError(f"{RUNTIMES[name]} (with onnx and onnxscript) is not installed")
            path, _ = onnx_file(model, height, width, digest)
            run = load_runtime(name, path)
            with torch.inference_mode():
                errors[name] = logit_error(run(images.contiguous()), reference)
            if errors[name] > gate:
                raise BackendError(
                    f"{RUNTIMES[name]}'s logit error {errors[name]:.2%} of the range is over the {gate:.0%} gate"
                )
        except BackendError as e:
            if strict:
                raise
            rejected[name] = str(e)
            continue
        runners[name] = run
    return runners, errors, rejected, digest


def select(
    model: nn.Module,
    eager: nn.Module,
    images: torch.Tensor,
    runtimes: tuple[str, ...],
    *,
    gate: float,
    eager_dtype: str = "fp32",
) -> tuple[nn.Module, dict[str, float], dict[str, str], dict[int, dict[str, float]]]:
    """The fastest accurate backend for ``model`` at ``images``' size: (model to use, errors, rejected, timings).

    The runtimes that pass :func:`check_runtimes` and ``eager`` (the eager fast path, in ``eager_dtype``)
    are timed at :data:`PROBE_BATCHES` once per machine, weights, size and versions; the plan (batch ->
    fastest backend) is cached on disk. A later process finds it there and loads and checks only the
    runtimes the plan uses (``timings`` is then empty): seconds instead of a minute on 2 cores.
    """
    from .precision import cpu_name

    digest = weights_digest(model)
    versions = available_runtimes()
    installed = tuple(n for n in runtimes if n in versions)
    height, width = images.shape[-2:]
    facts = [digest, f"{height}x{width}", cpu_name(), f"{torch.get_num_threads()} threads split", eager_dtype]
    facts += sorted(f"{n}{versions[n]}" for n in installed)
    path = _decision_path(hashlib.sha256("|".join(facts).encode()).hexdigest()[:24])
    plan = _read_decision(path, {"eager", *installed})
    if plan is not None:
        wanted = tuple(n for n in installed if n in plan.values())
        runners, errors, rejected, _ = check_runtimes(model, images, wanted, gate=gate, digest=digest)
        if set(runners) == set(wanted):  # else something changed since: choose again
            return _planned(eager, runners, plan, (height, width), versions), errors, rejected, {}
    runners, errors, rejected, _ = check_runtimes(model, images, runtimes, gate=gate, digest=digest)
    if not runners:
        return eager, errors, rejected, {}
    timings = time_backends({"eager": eager, **runners}, images)
    plan = {b: min(ms, key=ms.__getitem__) for b, ms in timings.items()}
    record = {"plan": plan, "ms": timings, "facts": facts, "loadavg": os.getloadavg()}
    with contextlib.suppress(OSError):  # a read-only cache costs a re-measurement next time, nothing more
        _write_atomically(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
    return _planned(eager, runners, plan, (height, width), versions), errors, rejected, timings


def _planned(
    eager: nn.Module,
    runners: Mapping[str, Runner],
    plan: Mapping[int, str],
    size: tuple[int, int],
    versions: Mapping[str, str],
) -> nn.Module:
    """The eager model if the plan never uses a runtime, else a :class:`RuntimeModel` with the ones it uses."""
    used = {n: runners[n] for n in set(plan.values()) if n != "eager"}
    return RuntimeModel(eager, used, plan, size, versions) if used else eager


def runtime_model(model: nn.Module, runtime: str, dtype: str | None, images: torch.Tensor, gate: float) -> nn.Module:
    """``model`` on one named runtime for every batch (no timing), checked on ``images``; one-line errors."""
    from .optimize import build_eager

    if dtype not in (None, "fp32"):
        raise UnsupportedDtypeError(f"the {RUNTIMES[runtime]} backend runs fp32 only, got {dtype!r}; use fp32")
    runners, _, _, _ = check_runtimes(model, images, (runtime,), gate=gate, strict=True)
    eager = build_eager(model, dtype="fp32", device=torch.device("cpu"))
    return RuntimeModel(eager, runners, {1: runtime}, tuple(images.shape[-2:]), available_runtimes())


def served_by(model: Any) -> str:
    """What served ``model``'s last call (a runtime model can hand odd sizes to eager), else :func:`describe`."""
    last = getattr(model, "last_backend", None)
    return model.describe(last) if last else describe(model)


def served_dtype(model: Any, default: str = "fp32") -> str:
    """The precision that served ``model``'s last call: a runtime backend runs fp32 whatever the eager fast path
    chose (bf16 beside "served by OpenVINO" would be wrong); the eager model its own ``inference_dtype``."""
    last = getattr(model, "last_backend", None)
    if last == "eager":
        model = model.eager
    return getattr(model, "inference_dtype", None) or default


def describe(model: Any) -> str:
    """Which backend serves ``model``'s requests, for people (any model: plain, eager, runtime)."""
    backend = getattr(model, "backend", None)
    if backend is None:
        return "plain PyTorch (eager)"
    return "eager oneDNN" if backend == "eager" else str(backend)
