"""Helpers for this project's tests and benchmarks (like ``torch.testing``): not needed to run the app.

- :mod:`.reference`: timm reference models with realistic BatchNorm statistics (timm is imported lazily;
  it is a dev dependency, ``pip install -e .[dev]``).
- :mod:`.hubfake`: a fake Hugging Face Hub on loopback, a hand-built HF cache, fresh-interpreter runners.
- :mod:`.appserver`: the real app launched in-process or as ``python app.py``, and its REST protocol.
- :mod:`.abuse`: abusive clients (huge, cut-off and stalled uploads, bad values, abandoned long jobs).

They work from a checkout of the repository (``pip install -e .``, or pytest's ``pythonpath = ["."]``):
the app launcher runs the checkout's ``app.py``.
"""

from .hubfake import (
    FakeHub,
    add_to_hf_cache,
    closed_port_url,
    hf_env,
    make_b0_checkpoint,
    make_cache,
    run_cli,
    run_python,
    run_scenario,
    save_timm_checkpoint,
)
from .reference import V2_SIZES, calibrate_bn, reference_pair, timm_model

__all__ = [
    "V2_SIZES",
    "FakeHub",
    "add_to_hf_cache",
    "calibrate_bn",
    "closed_port_url",
    "hf_env",
    "make_b0_checkpoint",
    "make_cache",
    "reference_pair",
    "run_cli",
    "run_python",
    "run_scenario",
    "save_timm_checkpoint",
    "timm_model",
]
