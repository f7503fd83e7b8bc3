"""Launching the real app for the API and browser tests: in-process, offline, uploads in a temp folder.

Gradio reads GRADIO_TEMP_DIR when its modules are imported, so importing this module first sets it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="effnetv2-gradio-"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

if TYPE_CHECKING:
    import gradio as gr
    import httpx

ROOT = Path(__file__).resolve().parents[2]
TEST_CHECKPOINT = "tf_efficientnetv2_b0.in1k"
"""The checkpoint the hub fixtures put in the session's fake HF cache (random weights, timm's layout)."""
PHOTO = ROOT / "assets" / "chelsea.jpg"
ARTIFACTS = ROOT / "tests" / "artifacts"


def labels(label: dict) -> list[str]:
    """The class names of a ``gr.Label`` output, most probable first."""
    return [c["label"] for c in label["confidences"]]


def expected_labels(image: str | os.PathLike = PHOTO, checkpoint: str = TEST_CHECKPOINT, k: int = 3) -> list[str]:
    """What the library itself answers for ``image``: the reference for every app response."""
    from effnetv2.backend import classify

    return [p.label for p in classify.classify(image, checkpoint, k, "plain").predictions]


def one_line(err: BaseException) -> str:
    """An error's text, asserted to be one line without a traceback: what a user of the app sees."""
    text = str(err).strip()
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def rest_event(http: httpx.Client, api: str, event_id: str, timeout: float = 120) -> tuple[str, Any]:
    """Read a call's event stream (Gradio's REST protocol) to its end: ("complete", the outputs) or ("error",
    the error event's data), heartbeats skipped."""
    deadline = time.monotonic() + timeout
    with http.stream("GET", f"gradio_api/call/{api}/{event_id}") as stream:
        stream.raise_for_status()
        kind = None
        for line in stream.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result after {timeout} s")
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                return kind, json.loads(line[5:])
    raise RuntimeError("the event stream ended without a result")


def rest_result(http: httpx.Client, api: str, event_id: str, timeout: float = 120) -> list:
    """:func:`rest_event`'s outputs, or RuntimeError carrying the ``error`` event's data."""
    kind, data = rest_event(http, api, event_id, timeout)
    if kind == "error":
        raise RuntimeError(f"error event: {json.dumps(data)}")
    return data


def rest_call(http: httpx.Client, api: str, data: list, timeout: float = 120, session_hash: str | None = None) -> list:
    """One call of a named endpoint over Gradio's REST API, as any program would make it: POST, then the stream.

    Without ``session_hash`` every call is a new Gradio session, as with ``curl``; a client that sends one (as
    ``gradio_client`` and the browser do) keeps its session between calls.
    """
    body: dict = {"data": data} if session_hash is None else {"data": data, "session_hash": session_hash}
    r = http.post(f"gradio_api/call/{api}", json=body)
    r.raise_for_status()
    return rest_result(http, api, r.json()["event_id"], timeout)


@contextmanager
def running_demo() -> Iterator[tuple[gr.Blocks, str]]:
    """The app as ``python app.py`` builds it (same queue and launch options), on a free loopback port."""
    import app

    demo = app.queued(app.build_demo())
    options = app.launch_options()
    _, url, _ = demo.launch(prevent_thread_lock=True, ssr_mode=False, quiet=True, **options)
    try:
        yield demo, url
    finally:
        demo.close()


@contextmanager
def running_app() -> Iterator[str]:
    """:func:`running_demo`'s URL."""
    with running_demo() as (_, url):
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    """Poll ``url`` until it serves a page; returns the time (perf_counter) it first did."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and r.read(100):
                    return time.perf_counter()
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no page at {url} after {timeout} s")


def shipped_env() -> dict[str, str]:
    """This process's environment without ``EFFNETV2_*`` settings: the app with its shipped defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EFFNETV2_")}


@dataclass
class AppProcess:
    """``python app.py`` running on a loopback port; its memory figures come from /proc."""

    url: str
    proc: subprocess.Popen
    log: Path
    temp_dir: Path
    """Gradio's upload and output folder (GRADIO_TEMP_DIR)."""
    startup_s: float = 0.0
    """From launching ``python app.py`` to the first served page."""

    def memory_mb(self) -> dict[str, float]:
        """VmRSS (resident now), VmHWM (peak resident) and VmSize (address space) of the app, in MB (2**20 B)."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize"):
                fields[key] = int(value.split()[0]) / 1024  # kB
        return fields

    def rss_mb(self) -> float:
        return self.memory_mb()["VmRSS"]

    def temp_mb(self) -> float:
        """Size of Gradio's upload and output cache: disk, not memory, but it also grows."""
        return sum(p.stat().st_size for p in self.temp_dir.rglob("*") if p.is_file()) / 2**20

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def app_process(env: dict[str, str] | None = None, cache: Path | None = None) -> Iterator[AppProcess]:
    """``python app.py`` in its own process, as deployed, on a free port; for benchmarks and for tests that
    limit or kill it. ``env`` defaults to this process's; ``cache`` is an HF cache to use offline.

    The app's output goes to a log file, not a pipe: nobody reads a pipe, and a full one blocks the app.
    """
    with tempfile.TemporaryDirectory(prefix="effnetv2-app-") as tmp:
        port = free_port()
        env = {**(os.environ if env is None else env), "GRADIO_SERVER_PORT": str(port)}
        env.update(GRADIO_TEMP_DIR=str(Path(tmp) / "gradio"), GRADIO_ANALYTICS_ENABLED="False")
        if cache is not None:
            env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
        log = Path(tmp) / "app.log"
        with log.open("wb") as out:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            app = AppProcess(f"http://127.0.0.1:{port}/", proc, log, Path(tmp) / "gradio")
            try:
                try:
                    app.startup_s = wait_for_page(app.url, proc) - start
                except (RuntimeError, TimeoutError) as exc:
                    raise RuntimeError(f"{exc}; its output ends with:\n{app.log_tail()}") from None
                yield app
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
