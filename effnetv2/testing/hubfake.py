"""Test doubles for the Hugging Face Hub that keep the real ``huggingface_hub`` client in the loop.

- :func:`save_timm_checkpoint`: a timm model's state dict as ``model.safetensors`` (timm's layout, as on the Hub).
- :func:`add_to_hf_cache`: write a file into an HF cache the way the client does (blobs by sha256,
  ``snapshots/<commit>/`` links, ``refs/<branch>``), for ``HF_HUB_OFFLINE=1`` runs.
- :class:`FakeHub`: a threaded HTTP server on 127.0.0.1 answering ``/{org}/{repo}/resolve/{revision}/{file}``
  like the Hub (``X-Repo-Commit``, ``ETag``, ``Content-Length``; 404 with ``X-Error-Code`` otherwise), to be
  reached through ``HF_ENDPOINT``.

The client reads HF_* variables when it is imported, so tests point it at these through the environment
of a fresh interpreter (see :func:`run_python`) or before the first import (conftest).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from torch import nn

ROOT = Path(__file__).resolve().parents[2]
"""The repository checkout (these helpers are for tests and benchmarks run from it)."""


def save_timm_checkpoint(model: nn.Module, path: str | os.PathLike) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_commit(seed: str) -> str:
    """A 40-hex commit id, stable for a seed."""
    return hashlib.sha1(seed.encode()).hexdigest()


def add_to_hf_cache(
    cache_dir: str | os.PathLike,
    repo_id: str,
    files: dict[str, bytes | Path],
    commit: str | None = None,
    ref: str | None = "main",
) -> Path:
    """Write ``files`` as one snapshot of ``repo_id`` in the HF cache layout; returns the snapshot folder."""
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    commit = commit or fake_commit(repo_id + "".join(sorted(files)))
    snapshot = repo / "snapshots" / commit
    for name, data in files.items():
        blob_bytes = data.read_bytes() if isinstance(data, Path) else data
        blob = repo / "blobs" / sha256(blob_bytes)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(blob_bytes)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@dataclass
class FakeHub:
    """A loopback Hub: ``add`` commits files to a repo; ``requests`` records (method, path) per request."""

    repos: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)  # repo -> commit -> files
    branches: dict[str, dict[str, str]] = field(default_factory=dict)  # repo -> branch -> commit
    requests: list[tuple[str, str]] = field(default_factory=list)
    cut_after: int | None = None
    """When set, file bodies stop after this many bytes and the connection closes: a network drop mid-download."""
    slow: dict[str, float] = field(default_factory=dict)
    """Repo id -> seconds every answer about it waits before its status line: a slow Hub or link."""

    def add(self, repo_id: str, files: dict[str, bytes | Path], branch: str | None = "main") -> str:
        """A new commit of ``repo_id`` holding ``files``; ``branch`` is moved to it. Returns the commit id."""
        data = {k: (v.read_bytes() if isinstance(v, Path) else v) for k, v in files.items()}
        commits = self.repos.setdefault(repo_id, {})
        commit = fake_commit(f"{repo_id}#{len(commits)}#{sorted(data)}")
        commits[commit] = data
        if branch:
            self.branches.setdefault(repo_id, {})[branch] = commit
        return commit

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                path = unquote(self.path.split("?")[0]).lstrip("/")
                parts = path.split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                time.sleep(hub.slow.get(repo_id, 0.0))
                if repo_id not in hub.repos:
                    return self._error(404, "RepoNotFound", "Repository not found")
                commit = hub.branches.get(repo_id, {}).get(revision, revision)
                if commit not in hub.repos[repo_id]:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                files = hub.repos[repo_id][commit]
                if filename not in files:
                    return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
                data = files[filename]
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{sha256(data)}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body and hub.cut_after is not None:
                    self.wfile.write(data[: hub.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                elif body:
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str) -> None:
                payload = f'{{"error": "{message}"}}'.encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: an unreachable Hub, refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def hf_env(cache: str | os.PathLike, *, endpoint: str | None = None, offline: bool = False, **extra: str) -> dict:
    """An environment for a fresh interpreter whose Hub client uses ``cache`` and ``endpoint`` (or offline)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "EFFNETV2_"))}
    env.update(HF_HOME=str(Path(cache).parent / "hf_home"), HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_TELEMETRY="1")
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    env["HF_HUB_ETAG_TIMEOUT"] = "5"
    env["HF_HUB_DOWNLOAD_TIMEOUT"] = "5"
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    env["HF_ENDPOINT"] = endpoint or closed_port_url()  # never the real Hub
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_python(code: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the Hub client reads HF_* at import)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def run_cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "effnetv2", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


SCENARIO = """
import json, sys
import effnetv2
from effnetv2 import download, load_pretrained
out = {}
def attempt(name, fn):
    try:
        out[name] = {"ok": str(fn())}
    except Exception as exc:
        out[name] = {"error": type(exc).__name__, "message": str(exc)}
CASES
print(json.dumps(out))
"""


def run_scenario(cases: str, env: dict) -> dict:
    """Run ``cases`` (lines of ``attempt(name, fn)``) in a fresh interpreter; each name maps to its outcome:
    ``{"ok": str(result)}`` or ``{"error": type name, "message": text}``."""
    result = run_python(SCENARIO.replace("CASES", cases), env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_b0_checkpoint(path: str | os.PathLike, seed: int = 0) -> Path:
    """A ``tf_efficientnetv2_b0`` checkpoint file with random weights and calibrated BN (timm's layout)."""
    from .reference import timm_model

    return save_timm_checkpoint(timm_model("tf_efficientnetv2_b0", seed=seed, calibration_size=224), path)


def make_cache(folder: Path, checkpoint: str = "tf_efficientnetv2_s.in21k_ft_in1k") -> Path:
    """A HF cache holding a random-init ``checkpoint`` (default V2-S) in its Hub repo, e.g.
    ``timm/tf_efficientnetv2_s.in21k_ft_in1k``."""
    from effnetv2 import create_model, resolve_checkpoint

    from .reference import calibrate_bn

    ckpt = resolve_checkpoint(checkpoint)
    # BatchNorm calibrated at the test size: with BN at mean 0 / var 1, or statistics from smaller inputs,
    # activations grow through the stages, the bf16 logits fail the fast path's accuracy gate and the app
    # falls back to fp32. Calibrated at the size it serves, the model takes the path real weights take.
    model = calibrate_bn(create_model(ckpt.arch), size=ckpt.test.size, steps=1)
    weights = save_timm_checkpoint(model, folder / f"{ckpt.name}.safetensors")
    cache = folder / "hub"
    add_to_hf_cache(cache, ckpt.repo_id, {ckpt.filename: weights})
    return cache


__all__ = [
    "FakeHub",
    "add_to_hf_cache",
    "closed_port_url",
    "fake_commit",
    "hf_env",
    "make_b0_checkpoint",
    "make_cache",
    "run_cli",
    "run_python",
    "run_scenario",
    "save_timm_checkpoint",
    "sha256",
]
