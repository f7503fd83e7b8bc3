"""Inference fast path: the same predictions from fewer, fused operations and lower precision.

``optimize_for_inference`` returns a new model (the input is never changed) in which

- every BatchNorm is folded into the convolution before it (all convs here are bias-free and followed by BN),
  so a ConvBNAct becomes one conv with a bias;
- on CPU, the activation (SiLU, or Lite's ReLU6 as oneDNN's "hardtanh" 0..6) and the residual add are fused
  into that conv through oneDNN post-ops (the op Inductor uses), which saves one pass over memory per
  activation; without autograd only, so gradients still flow through ordinary ``F.conv2d`` and Grad-CAM works
  on an fp32 optimized model;
- the squeeze-and-excitation 1x1 convs on a 1x1 map run as matrix products;
- activations are channels-last (what oneDNN and cuDNN's tensor cores want);
- weights and activations are in the chosen dtype in the stages where that pays
  (:func:`reduced_precision_stages`: on CPU all but stage 1 and the first MBConv stage); the stem, SE gates
  and classifier stay fp32 (cheap, and where rounding costs most); the model takes fp32 input and returns
  fp32 logits;
- on CPU, weights are reordered once per input shape into oneDNN's blocked layout.

TF "SAME" padding stays dynamic (computed from the runtime size), so any input size works. The stage
structure (``stem``, ``stage1``..., ``head``, ``forward_stages``) is kept, so per-stage hooks still work;
intermediate stage outputs are in the model's dtype. That eager model is ``backend="eager"``.

With no ``backend`` (``"auto"``) on CPU, the fast path may instead be this model exported to ONNX and run by
ONNX Runtime or OpenVINO (:mod:`effnetv2.backends`), whichever :func:`choose_fast_path` timed fastest on
this machine among the accurate candidates; the eager model stays inside it for what needs stages.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import FusedMBConv, MBConv
from .devices import resolve_device
from .layers import ACTIVATIONS, Conv2dSame, ConvBNAct, SqueezeExcite, same_padding
from .model import EfficientNet, Head
from .precision import DTYPES, check_dtype, cpu_capabilities, fastest_dtype

# The project's bar for "accurate": the largest logit difference at most 2% of the fp32 logit range.
ACCURATE_LOGIT_ERROR = 0.02


def logit_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest absolute logit difference as a fraction of the reference's logit range (max - min), worst image.

    The range, not the values, sets what a difference means: argmax and top-k flip only when an error is
    comparable to the gaps between logits. For a batch (N, classes) each image is judged against its own range.
    A NaN or infinite logit (fp16 overflow) is an infinite error: it must never pass a gate.
    """
    if output.shape != reference.shape:
        raise ValueError(f"logits of shape {tuple(output.shape)} cannot be compared with {tuple(reference.shape)}")
    ref = reference.detach().float().reshape(reference.shape[0] if reference.ndim > 1 else 1, -1)
    diff = (output.detach().float().to(ref.device).reshape(ref.shape) - ref).abs().amax(1)
    spread = ref.amax(1) - ref.amin(1)
    ratio = torch.where(spread > 0, diff / spread.clamp_min(torch.finfo(torch.float32).tiny), diff * float("inf"))
    finite = torch.isfinite(ratio) & torch.isfinite(ref).all(1)
    return float(torch.where(finite, ratio, torch.full_like(ratio, float("inf"))).max())


def measure_logit_error(reference: nn.Module, model: nn.Module, images: torch.Tensor) -> float:
    """:func:`logit_error` of ``model`` against ``reference`` (e.g. the plain fp32 model) on ``images``.

    ``images`` are preprocessed model inputs (N, 3, H, W). Use real photos (:func:`effnetv2.samples.photos`):
    on Gaussian noise the logits are small and flat, and the error that matters, on what users classify,
    is not what gets measured.
    """
    device = next(reference.parameters()).device
    with torch.inference_mode():
        return logit_error(model(images), reference(images.to(device)))


@dataclass(frozen=True)
class FastPath:
    """The inference fast path chosen for one model on one device, and the evidence for the choice."""

    model: nn.Module
    """What to call: the eager optimized :class:`EfficientNet`, or a :class:`effnetv2.backends.RuntimeModel`
    (ONNX Runtime / OpenVINO, with the eager model inside for other sizes). Both take (N, 3, H, W) fp32 images
    and return fp32 logits, and both have a ``backend`` attribute."""
    dtype: str
    """The precision it runs in: the fastest one on this device whose logits passed the gate, else fp32."""
    logit_error: float
    """The reduced-precision eager candidate's error on the gate images (0.0 when fp32 was the only one)."""
    fused: bool
    """Whether the eager model's convolutions run through oneDNN's fused kernels (CPU)."""
    backend: str = "eager"
    """Who serves requests: ``"eager"`` or the runtime model's description (name, version, batch sizes)."""
    backend_errors: Mapping[str, float] = field(default_factory=dict)
    """Each runtime backend's logit error against the plain model on the gate images."""
    rejected: Mapping[str, str] = field(default_factory=dict)
    """Runtime backends left out, with the one-line reason (not installed, failed, over the gate)."""
    timings_ms: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    """batch -> backend -> ms measured for the choice (empty when the choice came from the disk cache)."""

    @property
    def summary(self) -> str:
        kernels = "oneDNN fused" if self.fused else "ATen"
        if self.backend == "eager":
            return f"{self.dtype}, {kernels} kernels"
        if self.dtype == "fp32":
            return f"fp32, {self.backend}"
        # The runtimes run the fp32 export; the eager model (other sizes, gradients, batches planned for it)
        # runs in the reduced precision that passed the gate.
        return f"fp32, {self.backend}; eager model in {self.dtype}"


def choose_fast_path(
    model: EfficientNet,
    images: torch.Tensor,
    device: torch.device | str | None = None,
    *,
    dtype: str | None = None,
    backends: Sequence[str] | None = None,
) -> FastPath:
    """The fastest accurate way to run ``model`` on ``device`` for inputs like ``images``: the one decision point.

    Accurate = :func:`logit_error` at most :data:`ACCURATE_LOGIT_ERROR` on every image (several real photos,
    preprocessed for the checkpoint: the gate must see what users classify). First the eager model: the
    fastest precision of ``device`` (``dtype`` fixes it), dropped for fp32 if it misses the bar, NaN
    included. Then, on CPU, the runtime backends (``backends``; default: those installed and allowed by
    ``$EFFNETV2_BACKENDS``): each one's logits are checked on ``images`` and the survivors are timed against
    the eager model at batch 1 and 8 at ``images``' size, once per machine (the decision is cached on disk,
    see :mod:`effnetv2.backends`). A runtime that is missing or fails is left out with its reason in
    :attr:`FastPath.rejected`; with none, the eager model is the fast path, as before.
    """
    from . import backends as rt

    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    eager, dtype, error = _eager_fast_path(model, images, dev, dtype)
    fused = _is_fused(eager)
    allowed = rt.allowed_backends() if backends is None else tuple(rt.check_backend(b) for b in backends)
    runtimes = tuple(b for b in allowed if b in rt.RUNTIMES)
    if dev.type != "cpu" or not runtimes:
        return FastPath(eager, dtype, error, fused)
    chosen, errors, rejected, timings = rt.select(
        model, eager, images.to(dev), runtimes, gate=ACCURATE_LOGIT_ERROR, eager_dtype=dtype
    )
    backend = getattr(chosen, "backend", "eager")
    return FastPath(chosen, dtype, error, fused, backend, errors, rejected, timings)


def _eager_fast_path(
    model: EfficientNet, images: torch.Tensor, dev: torch.device, dtype: str | None
) -> tuple[EfficientNet, str, float]:
    """(eager model, its dtype, the reduced-precision candidate's gate error): the fastest accurate eager one."""
    dtype = fastest_dtype(dev) if dtype is None else check_dtype(dtype, dev, "cast")
    error = 0.0
    if dtype != "fp32":
        candidate = optimize_for_inference(model, dtype=dtype, device=dev, backend="eager")
        error = measure_logit_error(model, candidate, images)
        if error <= ACCURATE_LOGIT_ERROR:
            return candidate, dtype, error
    return optimize_for_inference(model, dtype="fp32", device=dev, backend="eager"), "fp32", error


def _is_fused(model: EfficientNet) -> bool:
    return any(m.fuse for m in model.modules() if isinstance(m, FoldedConv))


# ---------------------------------------------------------------------------------------------------------
# Fused conv (+ activation) (+ residual add) through oneDNN post-ops

_POST_OPS: dict[str, tuple[str, list[float]]] = {"silu": ("swish", []), "relu6": ("hardtanh", [0.0, 6.0])}
"""Each activation of :data:`effnetv2.layers.ACTIVATIONS` as a oneDNN post-op: name and scalars."""
_ACT_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"silu": F.silu, "relu6": F.relu6}
"""The same activations for the unfused path (autograd, other devices, no oneDNN)."""


def _activation_name(act: nn.Module) -> str | None:
    """The name of a ConvBNAct's activation (None for none); an unknown one is an error, never dropped."""
    if isinstance(act, nn.Identity):
        return None
    name = next((n for n, cls in ACTIVATIONS.items() if type(act) is cls), None)
    if name is None or name not in _POST_OPS or name not in _ACT_FUNCTIONS:
        raise TypeError(f"the inference fast path does not know the activation {type(act).__name__}")
    return name


def onednn_fusion_available(dtype: str = "fp32") -> bool:
    """Whether oneDNN's fused conv runs in ``dtype`` on this CPU (probed by :mod:`effnetv2.precision`).

    When False the fast path uses ordinary conv + SiLU (still BN-folded) in that dtype.
    """
    return dtype in cpu_capabilities().onednn_fused


# Weights reordered ahead for these dtypes (see FoldedConv._fused_weight), for this many input shapes each.
_PACKED_DTYPES = (torch.float32, torch.bfloat16)
_PACKED_SHAPES = 4


class FoldedConv(nn.Module):
    """A conv with BatchNorm folded into its weight and bias, then its activation or none, optionally + residual.

    ``same`` keeps TF's dynamic "SAME" padding for strided convs; otherwise padding is static and symmetric.
    """

    def __init__(self, block: ConvBNAct, *, fuse: bool):
        super().__init__()
        conv, bn = block.conv, block.bn
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight.detach() * scale.reshape(-1, 1, 1, 1)
        bias = bn.bias.detach() - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias.detach() * scale
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())
        self.stride = tuple(conv.stride)
        self.groups = conv.groups
        self.same = isinstance(conv, Conv2dSame)
        self.padding = (0, 0) if self.same else tuple(conv.padding)
        self.act = _activation_name(block.act)  # "silu", "relu6" or None
        self.fuse = fuse
        self.pack = False
        self._packed: dict[tuple[int, ...], torch.Tensor] = {}
        self._packed_for: tuple[int, torch.dtype, int] | None = None

    def __getstate__(self) -> dict:
        # oneDNN's opaque packed tensors neither copy nor pickle; they are rebuilt on the next call.
        state = super().__getstate__()
        return {**state, "_packed": {}, "_packed_for": None}

    def _fused_weight(self, x: torch.Tensor) -> torch.Tensor:
        """The weight reordered once per input shape into the layout oneDNN picks for that shape.

        Else every call reorders it. Measured 5-10% faster for fp32 and bf16; packed without the shape,
        oneDNN picked a layout that made V2-B0 several times slower. The cache is dropped as soon as the
        weight is moved, cast or changed, and holds a few shapes at most.
        """
        if not self.pack:
            return self.weight
        w = self.weight
        source = (w.data_ptr(), w.dtype, 0 if w.is_inference() else w._version)  # inference tensors: no version
        if source != self._packed_for:
            self._packed, self._packed_for = {}, source
        key = tuple(x.shape)
        packed = self._packed.get(key)
        if packed is None:
            if len(self._packed) >= _PACKED_SHAPES:
                self._packed.pop(next(iter(self._packed)))
            packed = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight.detach(), list(self.padding), list(self.stride), [1, 1], self.groups, list(key)
            )
            self._packed[key] = packed
        return packed

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return x
        k = self.weight.shape[-2:]
        top, bottom = same_padding(x.shape[-2], k[0], self.stride[0])
        left, right = same_padding(x.shape[-1], k[1], self.stride[1])
        return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        x = self._pad(x)
        if self.fuse and not torch.is_grad_enabled() and x.device.type == "cpu":
            op = torch.ops.mkldnn._convolution_pointwise
            args = (self._fused_weight(x), self.bias, list(self.padding), list(self.stride), [1, 1], self.groups)
            if residual is None or self.act:  # oneDNN would apply the activation after the add: add separately
                y = op(x, *args, *(_POST_OPS[self.act] if self.act else ("none", [])), "")
                return y if residual is None else y + residual
            return op.binary(x, residual, *args, "add", None, None, [], None)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        if self.act:
            y = _ACT_FUNCTIONS[self.act](y)
        return y if residual is None else y + residual

    def extra_repr(self) -> str:
        out_ch, in_per_group, kh, kw = self.weight.shape
        pad = "same" if self.same else self.padding
        return (
            f"{in_per_group * self.groups}, {out_ch}, kernel=({kh}, {kw}), stride={self.stride}, padding={pad}, "
            f"groups={self.groups}, act={self.act}, fused={self.fuse}"
        )


class SqueezeExciteGemm(SqueezeExcite):
    """SE with its 1x1 convs on a 1x1 map run as matrix products, in the parameters' precision.

    Kept in fp32 in a reduced-precision model: it is tiny (one vector per image), and a gate rounded
    before the multiply would scale every channel's error.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.reduce.weight
        # sum accumulates in fp32 internally; a bf16 mean (or mean(dtype=)) first copies all of x to fp32.
        s = x.sum((2, 3)).to(w.dtype) / (x.shape[-2] * x.shape[-1])
        s = F.silu(F.linear(s, w.flatten(1), self.reduce.bias))
        gate = torch.sigmoid(F.linear(s, self.expand.weight.flatten(1), self.expand.bias))
        return x * gate.to(x.dtype)[:, :, None, None]


class InferenceMBConv(nn.Module):
    """MBConv for inference: expand -> depthwise -> SE -> project (+ input, fused into the project conv)."""

    def __init__(self, block: MBConv, *, fuse: bool):
        super().__init__()
        self.expand = FoldedConv(block.expand, fuse=fuse) if block.expand is not None else None
        self.depthwise = FoldedConv(block.depthwise, fuse=fuse)
        self.se = _se(block.se) if block.se is not None else None
        self.project = FoldedConv(block.project, fuse=fuse)
        self.residual = block.drop_path is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        return self.project(y, x if self.residual else None)


class InferenceFusedMBConv(nn.Module):
    """Fused-MBConv for inference: kxk expand (-> 1x1 project) (+ input, fused into the last conv)."""

    def __init__(self, block: FusedMBConv, *, fuse: bool):
        super().__init__()
        self.expand = FoldedConv(block.expand, fuse=fuse)
        self.project = FoldedConv(block.project, fuse=fuse) if block.project is not None else None
        self.residual = block.drop_path is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.residual else None
        if self.project is None:
            return self.expand(x, skip)
        return self.project(self.expand(x), skip)


def _se(se: SqueezeExcite) -> SqueezeExciteGemm:
    out = SqueezeExciteGemm(se.reduce.in_channels, se.reduce.out_channels)
    out.load_state_dict(se.state_dict())
    return out.to(se.reduce.weight.device)


class InferenceStem(nn.Module):
    """The stem conv, fp32 in every model (the image is not rounded), on any float input of any layout."""

    def __init__(self, stem: ConvBNAct, *, fuse: bool, channels_last: bool):
        super().__init__()
        self.conv = FoldedConv(stem, fuse=fuse)
        self.channels_last = channels_last  # a bool: torch.memory_format objects do not pickle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return self.conv(x.to(device=w.device, dtype=w.dtype).contiguous(memory_format=layout))


class InferenceStage(nn.Sequential):
    """A stage that runs in its own precision (``dtype``): its input is cast to it, its output stays in it."""

    def __init__(self, *blocks: nn.Module, dtype: torch.dtype):
        super().__init__(*blocks)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.to(self.dtype))


class InferenceHead(nn.Module):
    """Head with a folded conv; pooling and classifier in the classifier's precision (fp32); fp32 logits."""

    def __init__(self, head: Head, *, fuse: bool):
        super().__init__()
        self.conv = FoldedConv(head.conv, fuse=fuse)
        self.classifier = copy.deepcopy(head.classifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x.to(self.conv.weight.dtype))
        dtype = self.classifier.weight.dtype if isinstance(self.classifier, nn.Linear) else torch.float32
        return self.classifier(x.mean((2, 3), dtype=dtype)).float()


def reduced_precision_stages(model: EfficientNet, device: torch.device | str) -> list[str]:
    """The stages that run in bf16/fp16 when one is asked for; the others stay fp32.

    On CUDA every stage. On CPU all but two, chosen by measurement on V2-S at 384 (random weights,
    calibrated BN, 30 images): stage 1 (few channels: no faster in bf16) and the first MBConv stage (only
    about 10% faster), both early, so that their rounding errors would pass through the most layers.
    With them in fp32 the worst logit error fell from 2.3% to 1.95% of the range (median 1.5% -> 1.4%)
    for about 5% more time; the Fused-MBConv stages (dense 3x3 convs) gain most, about 2.5x.
    """
    names = model.stage_names[1:-1]
    if torch.device(device).type != "cpu":  # the rule depends on the device type only
        return list(names)
    first_mbconv = next((n for n, st in zip(names, model.spec.stages, strict=True) if st.operator == "MBConv"), None)
    return [n for n in names[1:] if n != first_mbconv]


_CONVERTERS: dict[type[nn.Module], Callable[..., nn.Module]] = {
    MBConv: InferenceMBConv,
    FusedMBConv: InferenceFusedMBConv,
}


def optimize_for_inference(
    model: EfficientNet,
    *,
    dtype: str | None = None,
    channels_last: bool | None = None,
    device: torch.device | str | None = None,
    backend: str = "auto",
) -> nn.Module:
    """The fast path for ``model`` on this machine: a callable on (N, 3, H, W) fp32 images returning fp32 logits.

    ``model`` is left unchanged. ``backend``:

    - ``"auto"`` (default): what :func:`choose_fast_path` picks, judged on the sample photos at the model's
      image size: on CPU possibly ONNX Runtime or OpenVINO (exported on first use, cached on disk), else
      the eager model below. ``dtype`` None lets it pick the precision; "fp32" keeps fp32.
    - ``"eager"``: a new, eval-mode :class:`EfficientNet` with the stage structure (per-stage hooks,
      Grad-CAM): BN folded, oneDNN fused kernels, ``dtype`` "fp32" (default; same logits to rounding),
      "bf16" or "fp16" (check the error with :func:`logit_error`). ``channels_last``: None picks it.
      Call it under ``torch.inference_mode()``: the fused CPU kernels run only without autograd.
    - ``"onnxruntime"`` / ``"openvino"``: that runtime for every batch, fp32, CPU; one-line
      :class:`~effnetv2.errors.BackendError` if it is not installed or fails its check.

    ``device``: where the model lives (default: the input model's device). Every returned model has a
    ``backend`` attribute saying what serves requests.
    """
    from . import backends as rt

    if not isinstance(model, EfficientNet):
        raise TypeError(f"optimize_for_inference expects an effnetv2 EfficientNet, got {type(model).__name__}")
    backend = rt.check_backend(backend)
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    if dtype is not None:
        check_dtype(dtype, dev, "cast")
    if backend == "eager":
        return build_eager(model, dtype=dtype or "fp32", channels_last=channels_last, device=dev)
    if backend == "auto":
        return choose_fast_path(model, gate_images(model), dev, dtype=dtype).model
    if dev.type != "cpu":
        raise rt.BackendError(f"the {rt.RUNTIMES[backend]} backend runs on cpu only, got {dev}")
    return rt.runtime_model(model, backend, dtype, gate_images(model), ACCURATE_LOGIT_ERROR)


def gate_images(model: EfficientNet) -> torch.Tensor:
    """The sample photos as ``model``'s inputs: its checkpoint's eval preprocessing at the model's image size.

    For :func:`optimize_for_inference` without images; the app passes its checkpoint's own to
    :func:`choose_fast_path`. Models of no checkpoint get Inception normalization (most V2 checkpoints').
    """
    import dataclasses

    from .checkpoints import CHECKPOINTS, INCEPTION_MEAN, INCEPTION_STD, Preprocess
    from .preprocess import EvalTransform
    from .samples import photos

    size = model.arch.image_size
    same_arch = [c.test for c in CHECKPOINTS.values() if c.arch == model.arch.name]
    cfg = same_arch[0] if same_arch else Preprocess(size, 1.0, "center", "bicubic", INCEPTION_MEAN, INCEPTION_STD)
    return photos(EvalTransform(dataclasses.replace(cfg, size=size)))


def build_eager(
    model: EfficientNet,
    *,
    dtype: str = "fp32",
    channels_last: bool | None = None,
    device: torch.device,
    fuse: bool | None = None,
) -> EfficientNet:
    """The eager optimized model (see :func:`optimize_for_inference`, ``backend="eager"``).

    ``fuse``: None uses oneDNN's fused kernels where they run; False never (what an exporter can trace).
    """
    dev = device
    torch_dtype = DTYPES[check_dtype(dtype, dev, "cast")]
    if channels_last is None:
        channels_last = True
    # oneDNN's fused kernels only where they run in this dtype here (bf16 needs AVX-512 or AVX-NE-CONVERT);
    # elsewhere the same folded convs run through ATen, slower but correct.
    if fuse is None:
        fuse = dev.type == "cpu" and onednn_fusion_available(dtype)

    out = EfficientNet.__new__(EfficientNet)  # a fresh shell: nothing (hooks included) shared with ``model``
    nn.Module.__init__(out)
    for key, value in vars(model).items():
        if not key.startswith("_") and key != "training":
            setattr(out, key, copy.deepcopy(value))
    reduced = set(reduced_precision_stages(model, dev)) if torch_dtype != torch.float32 else set()
    out.stem = InferenceStem(model.stem, fuse=fuse, channels_last=channels_last)
    for name in model.stage_names[1:-1]:
        blocks = [_CONVERTERS[type(b)](b, fuse=fuse) for b in getattr(model, name)]
        setattr(out, name, InferenceStage(*blocks, dtype=torch_dtype if name in reduced else torch.float32))
    out.head = InferenceHead(model.head, fuse=fuse)
    out.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    out.to(device=dev, memory_format=memory_format)
    # Reduced precision only where it pays: the chosen stages and the head conv. SE gates stay fp32 (tiny;
    # a rounded gate scales a whole channel's error), as do the stem (it sees the image) and the classifier.
    last = model.stage_names[-2]
    for name in [*reduced, "head"] if last in reduced else reduced:
        getattr(out, name).to(torch_dtype)
    for module in [out.head.classifier, *(m for m in out.modules() if isinstance(m, SqueezeExcite))]:
        module.float()
    for module in out.modules():
        if isinstance(module, FoldedConv):
            module.pack = module.fuse and module.weight.dtype in _PACKED_DTYPES
    out.inference_dtype = dtype
    out.backend = "eager"
    return out
