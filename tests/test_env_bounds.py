"""The app's environment bounds (``EFFNETV2_MAX_RUNS``, ``EFFNETV2_MAX_FILE_SIZE``, ``EFFNETV2_SESSION_CAPACITY``
...), set in the environment of a launched app rather than patched into its modules, and their documented
defaults: the table in docs/reliability.md is read, and an app launched without any of them must run with it.

Each case launches the app in a fresh interpreter (the settings are read when ``effnetv2.backend.limits`` is
imported), probes it over HTTP as a client would, and reads the live server's own objects for what a client
cannot see (session capacity, queue size, the upload gate's budget).
"""

from __future__ import annotations

import json
import re

import pytest

from effnetv2.testing.appserver import ROOT, shipped_env
from effnetv2.testing.hubfake import run_python

DOCS = ROOT / "docs" / "reliability.md"
PROBE = r"""
import json, sys
import httpx
from gradio_client import Client
import app
from effnetv2.backend import limits

demo = app.queued(app.build_demo())
_, url, _ = demo.launch(prevent_thread_lock=True, ssr_mode=False, quiet=True, **app.launch_options())
client = Client(url, verbose=False)

def latency_refusal(**over):
    args = dict(model="efficientnetv2_b0", blocks="", size=64, batch=1, runs=1, device="cpu", dtype="fp32", threads="1", lang="en")
    args.update(over)
    try:
        client.predict(*args.values(), api_name="/latency")
    except Exception as exc:
        return str(exc)
    return None

high = json.loads(sys.argv[1])
gate = next(m.kwargs for m in demo.app.user_middleware if m.cls.__name__ == "UploadGate")
too_big = httpx.post(url + "gradio_api/upload", files={"files": ("x.jpg", b"\0" * (high["file"] + 1))})
fits = httpx.post(url + "gradio_api/upload", files={"files": ("x.jpg", b"\0" * (high["file"] // 2))})
out = {
    "runs": latency_refusal(runs=high["runs"] + 1),
    "batch": latency_refusal(batch=high["batch"] + 1),
    "size": latency_refusal(size=high["size"] + 16),
    "upload": [too_big.status_code, fits.status_code],
    "file": demo.max_file_size,
    "sessions": demo.state_holder.capacity,
    "queue": demo._queue.max_size,
    "train_batch": limits.TRAIN_BATCH.high,
    "budget_mb": gate["budget"].budget_bytes / 2**20,
    "max_age_s": gate["budget"].max_age_s,
    "timeout_s": gate["timeout_s"],
}
demo.close()
print("PROBE" + json.dumps(out))
"""
SIZES = {"kb": 2**10, "mb": 2**20}


def documented_defaults() -> dict[str, str]:
    """``EFFNETV2_*`` -> default, from the rows ``| bound | `EFFNETV2_X` | default | ...`` of the Bounds table of
    docs/reliability.md (one table for every bound, with or without a setting)."""
    rows = re.findall(r"^\| [^|]+ \| `(EFFNETV2_[A-Z_]+)` \| ([^|]+?) \|", DOCS.read_text(), flags=re.MULTILINE)
    return dict(rows)


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(kb|mb)", text).groups()
    return int(number) * SIZES[unit]


def _probe(env: dict[str, str], expected: dict[str, str]) -> dict:
    """The app launched with ``env`` added to an environment free of EFFNETV2_* values, probed against the
    ``expected`` settings."""
    high = {
        "runs": int(expected["EFFNETV2_MAX_RUNS"]),
        "batch": int(expected["EFFNETV2_MAX_BATCH"]),
        "size": int(expected["EFFNETV2_MAX_IMAGE_SIZE"]),
        "file": _bytes(expected["EFFNETV2_MAX_FILE_SIZE"]),
    }
    code = f"import sys; sys.argv[1:] = [{json.dumps(json.dumps(high))}]\n" + PROBE
    done = run_python(code, {**shipped_env(), **env}, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE")]
    assert lines, done.stderr[-3000:]
    return {"high": high, **json.loads(lines[0][len("PROBE") :])}


def _check(probe: dict, settings: dict[str, str]) -> None:
    high = probe["high"]
    for name, over in (("runs", 1), ("batch", 1), ("size", 16)):
        # one line naming the bound and the value refused (Gradio's slider check or the app's own, whichever
        # comes first): "Value 31 is greater than maximum value 30.", "runs must be from 1 to 30, got 31"
        words = re.findall(r"\d+", probe[name] or "")
        assert str(high[name]) in words and str(high[name] + over) in words and "\n" not in probe[name], probe
    assert probe["file"] == high["file"] and probe["upload"] == [413, 200]
    assert probe["sessions"] == int(settings["EFFNETV2_SESSION_CAPACITY"])
    assert probe["queue"] == int(settings["EFFNETV2_QUEUE_SIZE"])
    assert probe["train_batch"] == int(settings["EFFNETV2_MAX_TRAIN_BATCH"])
    assert probe["budget_mb"] == int(settings["EFFNETV2_UPLOAD_BUDGET_MB"])
    assert probe["max_age_s"] == int(settings["EFFNETV2_UPLOAD_MAX_AGE_S"])
    assert probe["timeout_s"] == int(settings["EFFNETV2_UPLOAD_TIMEOUT_S"])


def test_the_docs_table_lists_every_app_bound_the_code_reads():
    homes = ("effnetv2/backend/limits.py", "effnetv2/bounds.py")  # the app's settings; the engine's cost settings
    read = {name for home in homes for name in re.findall(r'"(EFFNETV2_[A-Z_]+)"', (ROOT / home).read_text())}
    assert read and set(documented_defaults()) == read


def test_malformed_settings_fall_back_to_the_defaults():
    defaults = documented_defaults()
    env = {**shipped_env(), "EFFNETV2_MAX_RUNS": "lots", "EFFNETV2_MAX_FILE_SIZE": "ten megabytes"}
    code = "from effnetv2.backend import limits; print(limits.RUNS.high, limits.MAX_FILE_SIZE)"
    done = run_python(code, env)
    assert done.stdout.split() == [defaults["EFFNETV2_MAX_RUNS"], defaults["EFFNETV2_MAX_FILE_SIZE"]], done.stderr


@pytest.mark.slow
def test_an_app_launched_without_settings_runs_with_the_documented_defaults(hf_cache):
    defaults = documented_defaults()
    _check(_probe({}, defaults), defaults)


@pytest.mark.slow
def test_an_app_launched_with_other_settings_runs_with_them(hf_cache):
    settings = {
        "EFFNETV2_MAX_RUNS": "3",  # below the default of 5 runs
        "EFFNETV2_MAX_BATCH": "3",
        "EFFNETV2_MAX_IMAGE_SIZE": "192",  # below the sliders' usual values (224, 384) and Table 3's 380
        "EFFNETV2_MAX_TRAIN_BATCH": "2",  # below the lab's training batch of 4
        "EFFNETV2_MAX_FILE_SIZE": "200kb",
        "EFFNETV2_QUEUE_SIZE": "5",
        "EFFNETV2_SESSION_CAPACITY": "17",
        "EFFNETV2_UPLOAD_BUDGET_MB": "50",
        "EFFNETV2_UPLOAD_MAX_AGE_S": "600",
        "EFFNETV2_UPLOAD_TIMEOUT_S": "30",
    }
    _check(_probe(settings, settings), settings)
