"""Launching the real app for the API and browser tests: in-process, offline, uploads in a temp folder.

Gradio reads GRADIO_TEMP_DIR when its modules are imported, so importing this module first sets it.
"""

from __future__ import annotations

import os
import tempfile
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
