"""Security: weights only from safetensors (a pickle never runs), pinned Hub revisions, bounded uploads, no
share link or public bind unless asked for, and no user input reaching a server path, a shell or eval.
"""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

import app
from effnetv2 import CorruptWeightsError, load_pretrained
from effnetv2.backend import classify, limits
from effnetv2.testing.appserver import PHOTO, ROOT, TEST_CHECKPOINT, app_process, rest_call, running_app
from effnetv2.testing.hubfake import FakeHub, hf_env, run_cli, run_scenario


class _RunsCodeWhenUnpickled:
    """What a malicious pickle does: unpickling calls any function, here one that leaves a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def evil_weights(tmp_path) -> tuple[list[Path], Path]:
    marker = tmp_path / "code_ran"
    data = pickle.dumps({"stem.conv.weight": _RunsCodeWhenUnpickled(marker)})
    files = [tmp_path / name for name in ("model.pth", "model.bin", "model.safetensors")]
    for f in files:
        f.write_bytes(data)
    pickle.loads(data)  # the proof that it is live: unpickling runs it
    assert marker.exists()
    marker.unlink()
    return files, marker


def test_a_pickle_never_loads_or_runs(evil_weights, hf_cache, monkeypatch):
    files, marker = evil_weights
    for f in files:
        with pytest.raises(CorruptWeightsError, match=r"only \.safetensors|not a safetensors file"):
            load_pretrained("b0", weights=f)
        monkeypatch.setenv("EFFNETV2_WEIGHTS", str(f))
        with pytest.raises(CorruptWeightsError, match=r"only \.safetensors|not a safetensors file"):
            classify.classify(PHOTO, TEST_CHECKPOINT, 3, "plain")
        result = run_cli(["predict", "--checkpoint", "b0", "--weights", str(f), str(PHOTO)], dict(os.environ))
        assert result.returncode == 2 and "safetensors" in result.stderr
    assert not marker.exists()


RISKY_BUILTINS = {"eval", "exec", "compile", "__import__"}
RISKY_MODULES = {"pickle", "subprocess", "shelve", "marshal", "dill", "pty"}
RISKY_ATTRIBUTES = {("torch", "load"), ("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "spawnv")}
UNPICKLING_SITE = "embedded.py"
"""The one file allowed one ``torch.load(..., weights_only=True)``: the embedded checkpoint, whose bytes are
checked against a pinned sha256 first (effnetv2/embedded.py)."""


def _is_torch_load(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "torch"
        and (node.attr == "load")
    )


def _risky(filename: str, source: str) -> tuple[list[str], list[str]]:
    """(risky sites, allowed unpickling sites) of one file. Allowed: a ``torch.load`` call in UNPICKLING_SITE
    with ``weights_only=True`` written out; any other ``torch.load`` (elsewhere, or without it) is risky."""
    found, allowed, exempt = [], [], set()
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if (
            filename == UNPICKLING_SITE
            and isinstance(node, ast.Call)
            and _is_torch_load(node.func)
            and any(
                k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
        ):
            allowed.append(f"{filename}:{node.lineno}: torch.load(weights_only=True)")
            exempt.add(id(node.func))
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{where}: import {n}" for n in names if n and n.split(".")[0] in RISKY_MODULES]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RISKY_BUILTINS:
            found.append(f"{where}: {node.func.id}()")
        elif (
            isinstance(node, ast.Attribute)
            and id(node) not in exempt
            and isinstance(node.value, ast.Name)
            and ((node.value.id, node.attr) in RISKY_ATTRIBUTES or node.value.id in RISKY_MODULES)
        ):
            found.append(f"{where}: {node.value.id}.{node.attr}")
    return found, allowed


def test_the_package_and_app_have_no_code_path_to_a_shell_eval_or_unpickling():
    """A static check of effnetv2/ and app.py: no eval/exec, no os.system/popen, no import of pickle, subprocess or
    their kin, and no torch.load but exactly one: the embedded checkpoint's, sha256-verified, weights_only=True.
    ``effnetv2.testing`` (test and benchmark helpers, never imported by the app or the CLI) is left out: it starts
    subprocesses on purpose."""
    found, allowed = [], []
    package = [p for p in sorted((ROOT / "effnetv2").rglob("*.py")) if "testing" not in p.relative_to(ROOT).parts]
    for path in [ROOT / "app.py", *package]:
        risky, ok = _risky(path.name, path.read_text())
        found += risky
        allowed += ok
    assert found == []
    assert len(allowed) == 1 and allowed[0].startswith(f"{UNPICKLING_SITE}:"), allowed


@pytest.mark.parametrize(
    "filename, source",
    [
        ("hub.py", "import torch\nstate = torch.load(path, weights_only=True)\n"),  # another file
        ("embedded.py", "import torch\nstate = torch.load(path)\n"),  # without weights_only
        ("embedded.py", "import torch\nstate = torch.load(path, weights_only=False)\n"),
        ("embedded.py", "import torch\nload = torch.load\n"),  # a reference that escapes the check
        ("embedded.py", "import pickle\n"),
    ],
)
def test_the_static_check_still_catches_any_other_unpickling(filename, source):
    found, allowed = _risky(filename, source)
    assert found and not allowed


def test_the_static_check_counts_a_second_allowed_call_in_the_site():
    source = "import torch\na = torch.load(p, weights_only=True)\nb = torch.load(q, weights_only=True)\n"
    found, allowed = _risky(UNPICKLING_SITE, source)
    assert found == [] and len(allowed) == 2  # the package-wide test requires exactly one


# -- pinned Hub revisions -----------------------------------------------------------------------------------------


def test_a_hub_revision_is_pinned_through_the_environment(fake_hub: FakeHub, two_b0_versions, tmp_path):
    old = fake_hub.add("timm/tf_efficientnetv2_b0.in1k", {"model.safetensors": two_b0_versions[0]})
    new = fake_hub.add("timm/tf_efficientnetv2_b0.in1k", {"model.safetensors": two_b0_versions[1]})
    online = hf_env(tmp_path / "hub", endpoint=fake_hub.url)
    load = 'attempt("path", lambda: load_pretrained("b0").weights_path)'
    assert f"/snapshots/{new}/" in run_scenario(load, online)["path"]["ok"]  # main moved on
    for pin in (old, f"b0={old}", f"tf_efficientnetv2_s.in1k=main{os.pathsep}tf_efficientnetv2_b0.in1k={old}"):
        got = run_scenario(load, {**online, "EFFNETV2_REVISION": pin})
        assert f"/snapshots/{old}/" in got["path"]["ok"], pin
    fetch = 'attempt("path", lambda: download("b0"))'  # a prefetch gets what the app will load
    assert f"/snapshots/{old}/" in run_scenario(fetch, {**online, "EFFNETV2_REVISION": old})["path"]["ok"]
    offline = {**online, "HF_HUB_OFFLINE": "1", "EFFNETV2_REVISION": old}  # the pinned copy serves offline
    assert f"/snapshots/{old}/" in run_scenario(load, offline)["path"]["ok"]
    bad = run_scenario(load, {**online, "EFFNETV2_REVISION": "v9.9"})["path"]
    assert bad["error"] == "HubError" and "has no revision 'v9.9'" in bad["message"]


# -- the server: uploads, share link, bind address, paths -------------------------------------------------------


@pytest.fixture(scope="module")
def small_upload_app(hf_cache):
    """The app with a 100 KB upload limit (EFFNETV2_MAX_FILE_SIZE sets it; 10 MB by default)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(limits, "MAX_FILE_SIZE", 100 * 1024)
    try:
        with running_app() as url:
            yield url
    finally:
        mp.undo()


def test_uploads_above_the_limit_are_refused_and_the_next_one_works(small_upload_app, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(PHOTO.read_bytes() + b"\0" * 200_000)  # a valid JPEG with 200 KB of padding
    client = Client(small_upload_app, verbose=False)
    with pytest.raises(ValueError, match=r"exceeds the maximum file size of 102400 bytes"):
        client.predict(handle_file(str(big)), TEST_CHECKPOINT, 3, "plain", api_name="/classify")
    label, _, _ = client.predict(handle_file(str(PHOTO)), TEST_CHECKPOINT, 3, "plain", api_name="/classify")
    assert label["confidences"]


@pytest.mark.parametrize("path", ["/etc/passwd", str(PHOTO), "../../../../etc/hostname"])
def test_a_request_cannot_name_a_file_on_the_server(small_upload_app, path):
    """Only files uploaded to this server are read: a path to anything else (even a real photo) is refused."""
    image = {"path": path, "meta": {"_type": "gradio.FileData"}}
    with httpx.Client(base_url=small_upload_app, timeout=60) as http:
        with pytest.raises(RuntimeError, match="error event"):
            rest_call(http, "classify", [image, TEST_CHECKPOINT, 3, "plain"])
        up = http.post("gradio_api/upload", files={"files": ("c.jpg", PHOTO.read_bytes())}).json()[0]
        uploaded = {"path": up, "meta": {"_type": "gradio.FileData"}}
        assert rest_call(http, "classify", [uploaded, TEST_CHECKPOINT, 3, "plain"])[0]["label"]


def test_no_share_link_and_a_loopback_bind_unless_asked(monkeypatch):
    monkeypatch.delenv("GRADIO_SHARE", raising=False)
    assert app.launch_options()["share"] is False
    monkeypatch.setenv("GRADIO_SHARE", "true")
    assert app.launch_options()["share"] is True
    assert "server_name" not in app.launch_options()  # Gradio's default, 127.0.0.1, or GRADIO_SERVER_NAME


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                out.add(address)
    return out


def test_python_app_py_listens_on_loopback_only(hf_cache):
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_SERVER_NAME"}
    with app_process(env) as app:
        port = int(app.url.rstrip("/").rsplit(":", 1)[1])
        assert _listening(port) == {"0100007F"}  # 127.0.0.1 only: not 0.0.0.0 or any outside address
