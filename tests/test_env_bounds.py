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

from effnetv2 import settings
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
    args = dict(model="efficientnetv2_b0", blocks="", size=64, batch=1, runs=1, device="cpu", dtype="fp32",
                threads="1", lang="en")
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


def documented_rows() -> dict[str, tuple[str, str]]:
    """``EFFNETV2_*`` -> (default, range and why), from the rows ``| bound | `EFFNETV2_X` | default | range: why |``
    of the Bounds table of docs/reliability.md (one table for every bound, with or without a setting)."""
    rows = re.findall(
        r"^\| [^|]+ \| `(EFFNETV2_[A-Z_]+)` \| ([^|]+?) \| ([^|]+?) \|", DOCS.read_text(), flags=re.MULTILINE
    )
    return {name: (default, why) for name, default, why in rows}


def documented_defaults() -> dict[str, str]:
    return {name: default for name, (default, _) in documented_rows().items()}


def _probe(env: dict[str, str], expected: dict[str, str]) -> dict:
    """The app launched with ``env`` added to an environment free of EFFNETV2_* values, probed against the
    ``expected`` settings."""
    high = {
        "runs": int(expected["EFFNETV2_MAX_RUNS"]),
        "batch": int(expected["EFFNETV2_MAX_BATCH"]),
        "size": int(expected["EFFNETV2_MAX_IMAGE_SIZE"]),
        "file": settings.file_size(expected["EFFNETV2_MAX_FILE_SIZE"]),
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


def test_the_docs_table_is_the_bounded_settings_of_settings_py():
    """Every bounded setting has a row with its default and, first in the last column, its range; no row names a
    setting the code does not have."""
    bounded = {s.name: s for s in settings.SETTINGS if s.kind != "text"}
    rows = documented_rows()
    assert bounded and set(rows) == set(bounded)
    for name, (default, why) in rows.items():
        assert default == bounded[name].default_text, name
        assert why.startswith(bounded[name].range_text + ":"), (name, bounded[name].range_text)


def test_no_module_but_settings_py_names_a_setting():
    """One home: every other module reads ``settings.X`` (a name written twice is a name that can drift)."""
    homes = [*(ROOT / "effnetv2").rglob("*.py"), ROOT / "app.py"]
    named = {p.name for p in homes if p.name != "settings.py" and re.search(r"[\"']EFFNETV2_[A-Z]", p.read_text())}
    assert not named


BAD = {
    "EFFNETV2_SESSION_CAPACITY": ("0", "1 to 10000"),  # every call was a 500 KeyError
    "EFFNETV2_MAX_REQUEST_BYTES": ("-1", "1024 to 67108864"),  # every call was a 413 "limit of -0 kB"
    "EFFNETV2_QUEUE_SIZE": ("ten", "1 to 10000"),
    "EFFNETV2_MAX_RUNS": ("500", "1 to 200"),  # was capped quietly at the engine's 200
    "EFFNETV2_MAX_TRAIN_BATCH": ("1", "2 to 64"),  # BatchNorm cannot train on one image
    "EFFNETV2_MAX_FILE_SIZE": ("10 megabytes", "1kb to 1gb"),
    "EFFNETV2_MACS_PER_S": ("nan", "1e+06 to 1e+17"),
    "EFFNETV2_MAX_REQUEST_MB": ("1.5", "1 to 100000000"),
}


TEXT_BAD = {
    "EFFNETV2_BACKENDS": ("eager,tensorrt", "backend must be one of auto, eager"),  # failed every fast-path request
    "EFFNETV2_REVISION": ("s=v1:nope=v2", "unknown checkpoint 'nope'"),
    "EFFNETV2_WEIGHTS": ("a.safetensors:b.safetensors", "each must be CHECKPOINT=FILE, got 'a.safetensors'"),
}


@pytest.mark.parametrize("name", TEXT_BAD)
def test_a_text_setting_its_reader_could_not_use_is_refused_with_its_readers_line(name):
    value, reason = TEXT_BAD[name]
    (line,) = settings.problems({name: value})
    assert line.startswith(f"{name}={value!r} is not usable: ") and reason in line and "\n" not in line
    assert settings.problems({"EFFNETV2_BACKENDS": "eager", "EFFNETV2_REVISION": "s=v1:b0=v2"}) == []


@pytest.mark.parametrize("name", BAD)
def test_a_bad_setting_is_refused_in_one_line_naming_it_its_value_and_its_range(name):
    value, expected = BAD[name]
    (line,) = settings.problems({name: value})
    assert line.startswith(f"{name}={value!r} is ") and line.endswith(expected) and "\n" not in line


def test_the_app_refuses_to_start_with_a_bad_setting_in_one_line():
    """Through the app's own start (``launch_options``, which ``python app.py`` calls first): exit status 1, one
    line on stderr naming every bad setting, no traceback; the defaults and good values start."""
    code = "import app; app.launch_options(); print('STARTED')"
    bad = {name: value for name, (value, _) in {**BAD, **TEXT_BAD}.items()}
    done = run_python(code, {**shipped_env(), **bad}, timeout=300)
    assert done.returncode == 1 and "STARTED" not in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("effnetv2: refusing to start: ") and "Traceback" not in done.stderr
    assert all(f"{name}={value!r}" in line for name, value in bad.items())
    good = {"EFFNETV2_MAX_FILE_SIZE": "5000", "EFFNETV2_SESSION_CAPACITY": "1", "EFFNETV2_MAX_REQUEST_BYTES": "1024"}
    assert "STARTED" in run_python(code, {**shipped_env(), **good}, timeout=300).stdout


def test_file_sizes_are_read_as_gradio_reads_them():
    """Where Gradio's own parser (``launch(max_file_size=...)``) takes a size, ours gives the same bytes; a bare
    number is bytes for us, which Gradio refuses as text ("Invalid file size unit") but takes as the int the app
    passes it."""
    from gradio.utils import _parse_file_size

    for text in ("10mb", "10 MB", "300kb", "1GB", "7b", "2tb", "0kb"):
        assert settings.file_size(text) == _parse_file_size(text), text
    assert settings.file_size("5000") == 5000 == _parse_file_size(5000)
    for bad in ("1.5mb", "ten", "mb", "-5kb", "5 megs", ""):
        with pytest.raises(ValueError):
            settings.file_size(bad)


def test_a_file_size_in_bytes_reaches_launch_and_the_upload_gate():
    """``EFFNETV2_MAX_FILE_SIZE=5000`` crashed Gradio's ``launch`` ("Invalid file size unit"); through the app's
    launch options it is 5000 bytes for Gradio and for the upload gate."""
    code = (
        "import gradio as gr, httpx, app\n"
        "with gr.Blocks() as demo:\n"
        "    gr.Markdown('x')\n"
        "_, url, _ = demo.launch(prevent_thread_lock=True, ssr_mode=False, quiet=True, **app.launch_options())\n"
        "big = httpx.post(url + 'gradio_api/upload', files={'files': ('x.jpg', bytes(6000))})\n"
        "print('SIZE', demo.max_file_size, big.status_code)\n"
        "demo.close()\n"
    )
    done = run_python(code, {**shipped_env(), "EFFNETV2_MAX_FILE_SIZE": "5000"}, timeout=300)
    assert "SIZE 5000 413" in done.stdout, done.stderr[-3000:]


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
