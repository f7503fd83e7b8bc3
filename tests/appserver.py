"""Launching the real app for the API and browser tests: in-process, offline, uploads in a temp folder.

Gradio reads GRADIO_TEMP_DIR when its modules are imported, so importing this module first sets it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="effnetv2-gradio-"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
TEST_CHECKPOINT = "tf_efficientnetv2_b0.in1k"
"""The checkpoint the hub fixtures put in the session's fake HF cache (random weights, timm's layout)."""
PHOTO = ROOT / "assets" / "chelsea.jpg"
ARTIFACTS = ROOT / "tests" / "artifacts"


@contextmanager
def running_app() -> Iterator[str]:
    """The app as ``python app.py`` builds it (same queue and launch options), on a free loopback port."""
    import app

    demo = app.build_demo()
    demo.queue(max_size=app.service.QUEUE_SIZE, default_concurrency_limit=1)
    options = app.launch_options()
    _, url, _ = demo.launch(prevent_thread_lock=True, ssr_mode=False, quiet=True, **options)
    try:
        yield url
    finally:
        demo.close()


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


@contextmanager
def app_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python app.py`` in its own process with ``env`` (plus a free port): for tests that limit or kill it."""
    port = free_port()
    env = {**env, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="effnetv2-gradio-"))
    url = f"http://127.0.0.1:{port}/"
    # The output goes to a file, not a pipe: nobody reads a pipe, and a full one blocks the app.
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_for_page(url, proc)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                raise RuntimeError(f"{exc}; its output ends with: {log.read()[-2000:]}") from None
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
