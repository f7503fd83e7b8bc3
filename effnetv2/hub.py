"""Pretrained weights from the Hugging Face Hub: download, verify, load, and keep a few models in memory.

Downloads go through ``huggingface_hub.hf_hub_download``, so the usual variables apply (``HF_HOME``,
``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``; read when ``huggingface_hub`` is first imported) and a
warm cache works offline. Files are checked before use (a truncated download is named, never silently
reused) and read as safetensors only, so loading never runs code. ``revision=`` or ``EFFNETV2_REVISION``
pin a Hub revision; ``weights=`` or ``EFFNETV2_WEIGHTS`` skip the Hub altogether.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from .cache import LRUCache
from .checkpoints import Checkpoint, Preprocess, resolve_checkpoint
from .devices import resolve_device
from .errors import CorruptWeightsError, HubError, HubUnavailableError, WeightsMismatchError
from .model import EfficientNet, create_model
from .preprocess import EvalTransform

WEIGHTS_ENV = "EFFNETV2_WEIGHTS"
"""A local ``.safetensors`` file to use instead of the Hub: ``FILE`` (for any checkpoint) or
``CHECKPOINT=FILE`` entries separated by ``os.pathsep`` (``:`` on Linux/macOS)."""
REVISION_ENV = "EFFNETV2_REVISION"
"""The Hub revision (branch, tag or commit) to load: ``REVISION`` (for any checkpoint) or ``CHECKPOINT=REVISION``
entries separated by ``os.pathsep``. Explicit ``revision=`` / ``--revision`` wins."""

CACHE_SIZE = 2
"""Loaded models kept in memory (least recently used goes first): V2-XL alone is 0.8 GB of fp32 weights."""

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


@dataclass
class Pretrained:
    """A loaded checkpoint: the model (eval mode, on ``device``) with the transform and labels it needs."""

    checkpoint: Checkpoint
    model: EfficientNet
    transform: EvalTransform
    labels: list[str]
    config: Preprocess
    device: torch.device
    weights_path: Path


def verify_safetensors(path: str | os.PathLike) -> None:
    """Check a safetensors file's header and length without reading its tensors (a few KB of I/O).

    Catches truncated downloads and foreign files; raises :class:`CorruptWeightsError` saying what is wrong.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CorruptWeightsError(f"{p}: {size} bytes, too short for a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER or 8 + n > size:
                raise CorruptWeightsError(f"{p}: not a safetensors file, or truncated inside its header")
            header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CorruptWeightsError(f"{p}: not a safetensors file (its header is not JSON)") from None
    except OSError as exc:
        raise CorruptWeightsError(f"{p}: cannot be read: {exc.strerror or exc}") from None
    if not isinstance(header, dict):
        raise CorruptWeightsError(f"{p}: not a safetensors file (unexpected header)")
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise CorruptWeightsError(f"{p}: not a safetensors file (tensor entries without data offsets)") from None
    if 8 + n + end != size:
        raise CorruptWeightsError(f"{p}: truncated or corrupt: {size} bytes, but its header describes {8 + n + end}")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP stack's "the connection broke" errors: huggingface_hub used requests, then httpx, now httpx2."""
    names = [("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")]
    names += [("requests", "Timeout"), ("requests", "exceptions.ChunkedEncodingError")]
    found = []
    for module, attr in names:
        obj = sys.modules.get(module)  # only stacks already in use: nothing is imported for this
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            found.append(obj)
    return tuple(found)


def _hub_call(ckpt: Checkpoint, revision: str | None, fetch: Callable[[], str]) -> Path:
    """Run a huggingface_hub call; turn its exceptions into one-line errors that say what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{ckpt.repo_id}/{ckpt.filename}" + (f" at revision {revision}" if revision else "")
    try:
        return Path(fetch())
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"the Hub ({constants.ENDPOINT}) is unreachable"
        raise HubUnavailableError(
            f"{where} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}: prefetch it on a "
            f"connected machine with `python -m effnetv2 download {ckpt.name}`, or use a local file with "
            f"--weights FILE or {WEIGHTS_ENV}=FILE"
        ) from None
    except RevisionNotFoundError:
        raise HubError(f"{ckpt.repo_id} has no revision {revision!r} on the Hub ({constants.ENDPOINT})") from None
    except RepositoryNotFoundError:
        raise HubError(
            f"repository {ckpt.repo_id} not found on the Hub ({constants.ENDPOINT}), or it is private or gated"
        ) from None
    except EntryNotFoundError:
        raise HubError(f"{ckpt.repo_id} has no file {ckpt.filename} at revision {revision or 'main'}") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise HubError(f"the Hub ({constants.ENDPOINT}) answered {status} for {where}") from None
    except (ConnectionError, TimeoutError) as exc:
        raise HubUnavailableError(f"{where}: the Hub cannot be reached ({exc})") from None
    except _transport_errors() as exc:  # the connection dropped or timed out mid-download (after retries)
        raise HubUnavailableError(
            f"{where}: the download from the Hub ({constants.ENDPOINT}) broke off ({exc}); the partial file "
            "is not used: try again"
        ) from None


def _corrupt_cached(ckpt: Checkpoint, exc: CorruptWeightsError) -> CorruptWeightsError:
    return CorruptWeightsError(
        f"{exc}; this cached copy of {ckpt.name} will not be used: delete it or run "
        f"`python -m effnetv2 download {ckpt.name} --force`"
    )


def download(checkpoint: str | Checkpoint, *, revision: str | None = None, force: bool = False) -> Path:
    """Fetch a checkpoint's weights into the HF cache (or find them there); returns the verified file's path.

    ``force`` downloads again over a corrupt cached copy; ``revision`` defaults to :data:`REVISION_ENV`'s, so
    that a prefetch fetches what the app will load.
    """
    from huggingface_hub import hf_hub_download

    ckpt = resolve_checkpoint(checkpoint)
    revision = revision or revision_from_env(ckpt)
    path = _hub_call(
        ckpt,
        revision,
        lambda: hf_hub_download(
            ckpt.repo_id, ckpt.filename, revision=revision, force_download=force, library_name="effnetv2"
        ),
    )
    try:
        verify_safetensors(path)
    except CorruptWeightsError as exc:
        raise _corrupt_cached(ckpt, exc) from None
    return path


def _env_entry(var: str, what: str, checkpoint: str | Checkpoint) -> str | None:
    """This checkpoint's value in ``var``: one bare value for every checkpoint, or ``CHECKPOINT=VALUE`` entries
    separated by ``os.pathsep`` (checkpoint names and aliases both work)."""
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    ckpt = resolve_checkpoint(checkpoint)
    entries = [e.strip() for e in value.split(os.pathsep) if e.strip()]
    for entry in entries:
        name, sep, found = entry.partition("=")
        if not sep:
            if len(entries) > 1:
                raise ValueError(f"{var}: with several entries each must be CHECKPOINT={what}, got {entry!r}")
            return entry
        if resolve_checkpoint(name.strip()).name == ckpt.name:
            return found.strip()
    return None


def weights_from_env(checkpoint: str | Checkpoint) -> Path | None:
    """The file :data:`WEIGHTS_ENV` names for this checkpoint, if any."""
    file = _env_entry(WEIGHTS_ENV, "FILE", checkpoint)
    return Path(file).expanduser() if file else None


def revision_from_env(checkpoint: str | Checkpoint) -> str | None:
    """The Hub revision (branch, tag or commit) :data:`REVISION_ENV` pins for this checkpoint, if any.

    Why: a Space or a class should not change under its users when a repo's main branch moves.
    """
    return _env_entry(REVISION_ENV, "REVISION", checkpoint)


_MODELS: LRUCache = LRUCache(CACHE_SIZE)


def clear_cache() -> None:
    """Forget the loaded models (e.g. to pick up a new commit of a checkpoint's main branch)."""
    _MODELS.clear()


def cached_models() -> list[tuple[str, str | None, str | None, str]]:
    """Keys (checkpoint, weights file, revision, device) of the models held in memory, oldest first."""
    return _MODELS.keys()  # type: ignore[return-value]


def _load_model(ckpt: Checkpoint, path: Path, device: torch.device, from_hub: bool) -> EfficientNet:
    try:
        if path.suffix == ".safetensors":  # anything else is refused by create_model, pickles included
            verify_safetensors(path)
        model = create_model(ckpt.arch, num_classes=ckpt.num_classes, weights=path)
    except CorruptWeightsError as exc:
        raise (_corrupt_cached(ckpt, exc) if from_hub else exc) from None
    except WeightsMismatchError as exc:
        raise WeightsMismatchError(f"{path.name} for {ckpt.name}: {exc}") from None
    return model.to(device).eval()


def load_pretrained(
    checkpoint: str | Checkpoint,
    *,
    weights: str | os.PathLike | None = None,
    revision: str | None = None,
    device: str | torch.device | None = None,
    size: Literal["test", "train"] = "test",
) -> Pretrained:
    """A checkpoint ready for inference: model, eval transform (``size`` = "test" or "train"), labels.

    ``weights`` (or :data:`WEIGHTS_ENV`) is a local ``.safetensors`` file in timm's layout or this package's;
    otherwise the file comes from the Hub or its cache (``revision``, or :data:`REVISION_ENV`, pins a branch,
    tag or commit). The model is shared through a small in-memory cache: treat it as read-only.
    """
    from .labels import labels_for

    ckpt = resolve_checkpoint(checkpoint)
    config = ckpt.preprocess(size)
    dev = resolve_device(device)
    local = Path(weights).expanduser() if weights is not None else weights_from_env(ckpt)
    if local is not None and not local.is_file():
        source = "" if weights is not None else f" ({WEIGHTS_ENV})"
        raise CorruptWeightsError(f"{local}{source}: no such weights file")
    revision = revision or revision_from_env(ckpt)
    key = (ckpt.name, str(local.resolve()) if local else None, None if local else revision, str(dev))

    def load() -> tuple[EfficientNet, Path]:
        path = local if local is not None else download(ckpt, revision=revision)
        return _load_model(ckpt, path, dev, from_hub=local is None), path

    model, path = _MODELS.get(key, load)
    return Pretrained(
        checkpoint=ckpt,
        model=model,
        transform=EvalTransform(config),
        labels=labels_for(ckpt.num_classes),
        config=config,
        device=dev,
        weights_path=path,
    )
