"""Pretrained weights: download, verify, load, keep a few models in memory, and say which are usable offline.

Downloads go through ``huggingface_hub.hf_hub_download``, so the usual variables apply (``HF_HOME``,
``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``; read when ``huggingface_hub`` is first imported) and a
warm cache works offline. Files are checked before use (a truncated download is named, never silently
reused) and read as safetensors only, so loading never runs code. ``revision=`` or ``EFFNETV2_REVISION``
pin a Hub revision; ``weights=`` or ``EFFNETV2_WEIGHTS`` skip the Hub altogether. The embedded checkpoint
(``embedded``) comes from an installed package, verified by :mod:`effnetv2.embedded`: no Hub at all.
:func:`checkpoint_status` says what is usable now, and :func:`default_or_embedded` falls back to the embedded
Lite0 when the default checkpoint cannot be had offline.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from . import settings
from .cache import LRUCache
from .checkpoints import (
    CHECKPOINTS,
    DEFAULT_CHECKPOINT,
    EMBEDDED_CHECKPOINT,
    Checkpoint,
    HubFile,
    Preprocess,
    resolve_checkpoint,
)
from .devices import resolve_device
from .errors import (
    CorruptWeightsError,
    EmbeddedWeightsError,
    HubError,
    HubUnavailableError,
    WeightsMismatchError,
)
from .model import EfficientNet, create_model
from .preprocess import EvalTransform

WEIGHTS_ENV = settings.WEIGHTS.name
"""A local ``.safetensors`` file to use instead of the Hub: ``FILE`` (for any checkpoint) or
``CHECKPOINT=FILE`` entries separated by ``os.pathsep`` (``:`` on Linux/macOS)."""
REVISION_ENV = settings.REVISION.name
"""The Hub revision (branch, tag or commit) to load: ``REVISION`` (for any checkpoint) or ``CHECKPOINT=REVISION``
entries separated by ``os.pathsep``. Explicit ``revision=`` / ``--revision`` wins."""

CACHE_SIZE = 2
"""Loaded models kept in memory (least recently used goes first): V2-XL alone is 0.8 GB of fp32 weights."""

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
HUB_MEMORY_S = 60.0
"""How long this process trusts what the Hub last said: a file it found (asked again after this), and that it did
not answer (its probe failed, :func:`hub_reachable`, or the client found no way to it). Why: an unreachable Hub
cost each call about 23 s of the client's retries (1+2+4+8+8 s), then a probe of up to 2 s; within this time the
client runs in its own offline mode (``local_files_only``) at once, and a file found is not asked for again."""


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


@dataclass
class _HubMemory:
    """What the Hub last said, for :data:`HUB_MEMORY_S` (see there): files found, and when it did not answer."""

    found: dict[tuple[str, str | None], tuple[float, Path]] = field(default_factory=dict)
    unreachable_at: float | None = None

    def file(self, key: tuple[str, str | None]) -> Path | None:
        at, path = self.found.get(key, (-math.inf, None))
        return path if path is not None and time.monotonic() - at < HUB_MEMORY_S and path.is_file() else None

    def silent_for(self) -> float | None:
        """Seconds since the Hub last did not answer, while that is remembered; else None."""
        if self.unreachable_at is None or time.monotonic() - self.unreachable_at >= HUB_MEMORY_S:
            return None
        return time.monotonic() - self.unreachable_at

    def clear(self) -> None:
        self.found.clear()
        self.unreachable_at = None


_HUB = _HubMemory()


def _hub_call(ckpt: Checkpoint, revision: str | None, fetch: Callable[[], str], *, offline: bool = False) -> Path:
    """Run a huggingface_hub call; turn its exceptions into one-line errors that say what to do, and remember when
    the Hub did not answer (``offline``: the call was made in the client's offline mode because of that)."""
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
        if constants.HF_HUB_OFFLINE:
            why = "HF_HUB_OFFLINE is set"
        elif offline:
            silent = _HUB.silent_for() or 0.0
            why = (
                f"the Hub ({constants.ENDPOINT}) did not answer {silent:.0f} s ago (asked again "
                f"{HUB_MEMORY_S - silent:.0f} s from now)"
            )
        else:
            _HUB.unreachable_at = time.monotonic()
            why = f"the Hub ({constants.ENDPOINT}) is unreachable"
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
        _HUB.unreachable_at = time.monotonic()
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


HUB_PROBE_TIMEOUT_S = 2.0
"""How long :func:`hub_reachable` waits for a TCP connection to the Hub: a reachable Hub answers within it, and
an unreachable one costs this once, not huggingface_hub's ~23 s of retries (1 + 2 + 4 + 8 + 8 s)."""


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the Hub's host (``HF_ENDPOINT``) opens within ``timeout`` seconds. False at
    once when ``HF_HUB_OFFLINE`` is set. A probe, not a promise: a Hub that accepts and then fails still fails
    in the download, with its own message."""
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlsplit(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def download(checkpoint: str | Checkpoint, *, revision: str | None = None, force: bool = False) -> Path:
    """Fetch a checkpoint's weights into the HF cache (or find them there); returns the verified file's path.

    ``force`` downloads again over a corrupt cached copy; ``revision`` defaults to :data:`REVISION_ENV`'s, so
    that a prefetch fetches what the app will load. An embedded checkpoint is only located and verified.
    """
    from huggingface_hub import hf_hub_download

    ckpt = resolve_checkpoint(checkpoint)
    if not isinstance(ckpt.source, HubFile):  # installed with a package: nothing to fetch, only to verify
        _no_revision(ckpt, revision)
        from .embedded import verified_bytes

        return verified_bytes(ckpt)[0]
    revision = revision or revision_from_env(ckpt)
    key = (ckpt.name, revision)
    if not force and (known := _HUB.file(key)) is not None:
        return known
    # Unreachable Hub: the cache alone answers (a cached file, or LocalEntryNotFoundError -> one line) at once,
    # instead of after huggingface_hub's retries; known from the last minute (_HUB), else from a 2 s probe.
    remembered = not force and _HUB.silent_for() is not None
    cache_only = remembered or not hub_reachable()
    if cache_only and not remembered:
        _HUB.unreachable_at = time.monotonic()
    path = _hub_call(
        ckpt,
        revision,
        lambda: hf_hub_download(
            ckpt.repo_id, ckpt.filename, revision=revision, force_download=force, library_name="effnetv2",
            local_files_only=cache_only,
        ),
        offline=remembered,
    )  # fmt: skip
    try:
        verify_safetensors(path)
    except CorruptWeightsError as exc:
        raise _corrupt_cached(ckpt, exc) from None
    _HUB.found[key] = (time.monotonic(), path)
    return path


def fetched(checkpoint: str | Checkpoint, revision: str | None = None) -> Path | None:
    """The verified file :func:`download` found for this checkpoint within :data:`HUB_MEMORY_S`, with no call to
    the Hub; else None."""
    ckpt = resolve_checkpoint(checkpoint)
    return _HUB.file((ckpt.name, revision or revision_from_env(ckpt)))


def env_entries(var: str, what: str, text: str) -> list[tuple[Checkpoint | None, str]]:
    """``text`` as ``var`` holds it: one bare value for every checkpoint (``[(None, VALUE)]``), or
    ``CHECKPOINT=VALUE`` entries separated by ``os.pathsep`` (checkpoint names and aliases both work); ValueError in
    one line otherwise (an unknown checkpoint: :class:`UnknownCheckpointError`). The app checks it at start
    (``effnetv2.settings``)."""
    entries = [e.strip() for e in text.split(os.pathsep) if e.strip()]
    parsed: list[tuple[Checkpoint | None, str]] = []
    for entry in entries:
        name, sep, found = entry.partition("=")
        if not sep:
            if len(entries) > 1:
                raise ValueError(f"{var}: with several entries each must be CHECKPOINT={what}, got {entry!r}")
            parsed.append((None, entry))
        else:
            parsed.append((resolve_checkpoint(name.strip()), found.strip()))
    return parsed


def _env_entry(var: str, what: str, checkpoint: str | Checkpoint) -> str | None:
    """This checkpoint's value in ``var`` (:func:`env_entries`), if any."""
    ckpt = resolve_checkpoint(checkpoint)
    for owner, value in env_entries(var, what, os.environ.get(var, "")):
        if owner is None or owner.name == ckpt.name:
            return value
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
    """Forget the loaded models and what the Hub last said (e.g. to pick up a new commit of a checkpoint's main
    branch)."""
    _MODELS.clear()
    _HUB.clear()


def cached_models() -> list[tuple[str, str | None, str | None, str]]:
    """Keys (checkpoint, weights file, revision, device) of the models held in memory, oldest first."""
    return _MODELS.keys()  # type: ignore[return-value]


def _no_revision(ckpt: Checkpoint, revision: str | None) -> None:
    if revision:
        raise ValueError(f"{ckpt.name} comes from {ckpt.source.where}, not the Hub: it has no revision {revision!r}")


def _load_embedded(ckpt: Checkpoint, device: torch.device) -> tuple[EfficientNet, Path]:
    from .embedded import read_embedded

    path, state = read_embedded(ckpt)
    try:
        model = create_model(ckpt.arch, num_classes=ckpt.num_classes, weights=state)
    except WeightsMismatchError as exc:
        raise WeightsMismatchError(f"{path.name} for {ckpt.name}: {exc}") from None
    return model.to(device).eval(), path


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
    tag or commit), or, for the embedded checkpoint, from its installed package (sha256-checked first).
    The model is shared through a small in-memory cache: treat it as read-only.
    """
    from .labels import labels_for

    ckpt = resolve_checkpoint(checkpoint)
    config = ckpt.preprocess(size)
    dev = resolve_device(device)
    local = Path(weights).expanduser() if weights is not None else weights_from_env(ckpt)
    if local is not None and not local.is_file():
        source = "" if weights is not None else f" ({WEIGHTS_ENV})"
        raise CorruptWeightsError(f"{local}{source}: no such weights file")
    hub = isinstance(ckpt.source, HubFile)
    if hub:
        revision = revision or revision_from_env(ckpt)
    else:
        _no_revision(ckpt, revision)
    key = (ckpt.name, str(local.resolve()) if local else None, None if local else revision, str(dev))

    def load() -> tuple[EfficientNet, Path]:
        if local is None and not hub:
            return _load_embedded(ckpt, dev)
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


# ---------------------------------------------------------------------------------------------------------
# What is usable now, without a network: the app's and CLI's "no Hub" mode

WeightsState = Literal["local", "cached", "embedded", "download", "install"]


@dataclass(frozen=True)
class CheckpointStatus:
    """Whether a checkpoint's weights are at hand now, with no network call, and where or how to get them.

    ``state``: "local" (the file :data:`WEIGHTS_ENV` names), "cached" (in the Hugging Face cache, verified),
    "embedded" (its package is installed and its file verified), "download" (must come from the Hub first),
    "install" (an embedded checkpoint whose package is missing or altered). ``note``: one line, where the
    weights are or what to run.
    """

    checkpoint: Checkpoint
    state: WeightsState
    path: Path | None
    note: str

    @property
    def usable(self) -> bool:
        """Loadable now, offline."""
        return self.state in ("local", "cached", "embedded")


def _hub_status(ckpt: Checkpoint) -> CheckpointStatus:
    from huggingface_hub import constants, try_to_load_from_cache

    fetch = f"run `python -m effnetv2 download {ckpt.alias or ckpt.name}`"
    cached = try_to_load_from_cache(ckpt.repo_id, ckpt.filename, revision=revision_from_env(ckpt))
    if not isinstance(cached, str):
        return CheckpointStatus(
            ckpt, "download", None, f"not in the Hugging Face cache ({constants.HF_HUB_CACHE}): {fetch}"
        )
    try:
        verify_safetensors(cached)
    except CorruptWeightsError as exc:
        return CheckpointStatus(ckpt, "download", None, f"{exc}; {fetch} --force")
    return CheckpointStatus(ckpt, "cached", Path(cached), f"in the Hugging Face cache: {cached}")


def checkpoint_status(checkpoint: str | Checkpoint) -> CheckpointStatus:
    """Whether ``checkpoint`` can be loaded now without a network (no HTTP call is made), and where from.

    An embedded checkpoint's file is hashed (19 MB, tens of ms) so that "usable" means it will load.
    """
    from .embedded import verified_bytes

    ckpt = resolve_checkpoint(checkpoint)
    local = weights_from_env(ckpt)
    if local is not None:
        if local.is_file():
            return CheckpointStatus(ckpt, "local", local, f"{WEIGHTS_ENV} names {local}")
        return CheckpointStatus(ckpt, "download", None, f"{WEIGHTS_ENV} names {local}, which is not a file")
    if isinstance(ckpt.source, HubFile):
        return _hub_status(ckpt)
    try:
        path, _ = verified_bytes(ckpt)
    except EmbeddedWeightsError as exc:
        return CheckpointStatus(ckpt, "install", None, str(exc))
    return CheckpointStatus(ckpt, "embedded", path, f"installed with {ckpt.source.requirement}: {path}")


def checkpoint_statuses() -> list[CheckpointStatus]:
    """:func:`checkpoint_status` of every registered checkpoint, in registry order: what works offline now."""
    return [checkpoint_status(c) for c in CHECKPOINTS.values()]


def embedded_notice(instead_of: str | Checkpoint = DEFAULT_CHECKPOINT) -> str:
    """The one line shown when the embedded Lite0 stands in for ``instead_of``: what is shown, how to get it."""
    ckpt = resolve_checkpoint(instead_of)
    return (
        f"Showing the embedded EfficientNet-Lite0 ({EMBEDDED_CHECKPOINT}): the weights of {ckpt.name} are not on "
        f"this machine. To get them, run `python -m effnetv2 download {ckpt.alias or ckpt.name}` on a connected "
        "machine (it fills the Hugging Face cache)."
    )


def default_or_embedded(checkpoint: str | Checkpoint = DEFAULT_CHECKPOINT) -> tuple[Checkpoint, str | None]:
    """``checkpoint`` (default: :data:`DEFAULT_CHECKPOINT`) if it is usable offline, else the embedded Lite0.

    Returns (the checkpoint to load, None) or (the embedded checkpoint, :func:`embedded_notice`). When the
    embedded one is not usable either, ``checkpoint`` is returned unchanged (loading it may still download it,
    or say why not). No network call is made: the choice is the same online and offline, and fast.
    """
    ckpt = resolve_checkpoint(checkpoint)
    if checkpoint_status(ckpt).usable:
        return ckpt, None
    embedded = resolve_checkpoint(EMBEDDED_CHECKPOINT)
    if checkpoint_status(embedded).usable:
        return embedded, embedded_notice(ckpt)
    return ckpt, None
