import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pyproject's `pythonpath = ["."]` makes this checkout importable here; its subprocesses (the CLI, app.py,
# bench scripts) get it through PYTHONPATH, as an editable install (`pip install -e .`) would give it.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

# The Hub client reads HF_* when first imported, so they are set here, before any test imports it: every
# in-process test runs offline against a session cache that fixtures fill with test-made checkpoints, and
# HF_ENDPOINT points at a closed loopback port, so nothing can reach the real Hub. Online tests (the fake Hub)
# run in fresh interpreters (effnetv2/testing/hubfake.py: hf_env, run_python, run_cli).


def _closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (as ``effnetv2.testing.closed_port_url``, which cannot
    be imported yet: importing ``effnetv2`` may import the Hub client)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


_SESSION_DIR = Path(tempfile.mkdtemp(prefix="effnetv2-tests-"))
HF_CACHE = _SESSION_DIR / "hf" / "hub"
for _key in [k for k in os.environ if k.startswith(("HF_", "HUGGINGFACE_", "EFFNETV2_"))]:
    del os.environ[_key]
os.environ.update(
    HF_HOME=str(_SESSION_DIR / "hf"),
    HF_HUB_CACHE=str(HF_CACHE),
    HF_HUB_OFFLINE="1",
    HF_ENDPOINT=_closed_port_url(),
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    # The fast path's automatic choice stays on the eager model here: exporting a checkpoint to ONNX and timing
    # the runtimes takes tens of seconds per model. tests/test_backends.py asks for the runtimes by name.
    EFFNETV2_BACKENDS="eager",
    # `python app.py` started by a test does not choose the fast path in the background (effnetv2/backend/classify.py
    # warm_up): the tests' first requests keep both cores; tests/test_warmup.py turns it on where it is the subject.
    EFFNETV2_WARMUP="0",
    EFFNETV2_CACHE=str(_SESSION_DIR / "effnetv2-cache"),
)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def b0_timm():
    """timm's ``tf_efficientnetv2_b0`` with random weights and calibrated BN: the reference for equality tests."""
    from effnetv2.testing.reference import timm_model

    return timm_model("tf_efficientnetv2_b0", seed=0, calibration_size=224)


@pytest.fixture(scope="session")
def b0_checkpoint(b0_timm, session_dir) -> Path:
    """``b0_timm`` saved as ``model.safetensors`` in timm's layout, as the Hub has it."""
    from effnetv2.testing.hubfake import save_timm_checkpoint

    return save_timm_checkpoint(b0_timm, session_dir / "b0" / "model.safetensors")


@pytest.fixture(scope="session")
def hf_cache(b0_checkpoint) -> Path:
    """The session's HF cache (HF_HUB_CACHE, offline) holding ``b0_checkpoint`` as tf_efficientnetv2_b0.in1k.

    ``effnetv2.load_pretrained("tf_efficientnetv2_b0.in1k")`` (or ``"b0"``) works in-process, with no network.
    """
    import huggingface_hub.constants as hf

    from effnetv2.testing.hubfake import add_to_hf_cache

    assert Path(hf.HF_HUB_CACHE) == HF_CACHE and hf.HF_HUB_OFFLINE, "huggingface_hub was imported before conftest"
    add_to_hf_cache(HF_CACHE, "timm/tf_efficientnetv2_b0.in1k", {"model.safetensors": b0_checkpoint})
    return HF_CACHE


@pytest.fixture(scope="session")
def hf_cache_s(hf_cache, session_dir) -> Path:
    """``hf_cache`` plus a random-init timm ``tf_efficientnetv2_s`` as tf_efficientnetv2_s.in21k_ft_in1k (the
    default checkpoint, alias ``s``). Building it takes a few seconds."""
    from effnetv2.testing.hubfake import add_to_hf_cache, save_timm_checkpoint
    from effnetv2.testing.reference import timm_model

    path = save_timm_checkpoint(
        timm_model("tf_efficientnetv2_s", seed=1, calibration_size=384), session_dir / "s" / "model.safetensors"
    )
    add_to_hf_cache(HF_CACHE, "timm/tf_efficientnetv2_s.in21k_ft_in1k", {"model.safetensors": path})
    return HF_CACHE


@pytest.fixture
def fake_hub():
    """A running loopback :class:`hubfake.FakeHub`; give ``hf_env(cache, endpoint=fake_hub.url)`` to a subprocess."""
    from effnetv2.testing.hubfake import FakeHub

    with FakeHub() as hub:
        yield hub


@pytest.fixture(scope="session")
def two_b0_versions(session_dir):
    """Two B0 checkpoints with different random weights: two commits of one Hub repo."""
    from effnetv2.testing.hubfake import make_b0_checkpoint

    return tuple(make_b0_checkpoint(session_dir / "versions" / f"v{i}" / "model.safetensors", seed=i) for i in (1, 2))
