"""Hub weights through the real ``hf_hub_download``: a hand-built cache offline, a loopback fake Hub online,
local files, the in-memory model cache, and every failure as a one-line message (API type and CLI)."""

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

import effnetv2
from effnetv2 import (
    CorruptWeightsError,
    HubUnavailableError,
    UnknownCheckpointError,
    WeightsMismatchError,
    load_pretrained,
)
from effnetv2.cache import LRUCache as ModelCache
from effnetv2.cli import main
from effnetv2.hub import cached_models, clear_cache, verify_safetensors, weights_from_env
from effnetv2.testing.hubfake import add_to_hf_cache, hf_env, run_cli, run_python, run_scenario

ASSETS = Path(__file__).resolve().parents[1] / "assets"
B0 = "tf_efficientnetv2_b0.in1k"
B0_REPO = f"timm/{B0}"


def _one_line_cli_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) <= 1 and "Traceback" not in err
    return code, err


# -- (a) a hand-built HF cache, HF_HUB_OFFLINE=1 (this process; see conftest) --------------------------------


def test_offline_cache_loads_the_checkpoint(hf_cache, b0_timm):
    p = load_pretrained(B0, device="cpu")
    assert p.checkpoint.name == B0 and not p.model.training and p.device == torch.device("cpu")
    assert p.weights_path.is_relative_to(hf_cache) and "snapshots" in p.weights_path.parts
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(p.model(x), b0_timm(x), rtol=0, atol=1e-5)
    assert effnetv2.download("b0") == p.weights_path  # cached: no network needed


def test_default_checkpoint_alias_s_loads_offline(hf_cache_s):
    p = load_pretrained("s", device="cpu")
    assert p.checkpoint.name == effnetv2.DEFAULT_CHECKPOINT and p.config.size == 384
    assert p.model.arch.name == "efficientnetv2_s"
    assert load_pretrained("s", device="cpu", size="train").config.size == 300


def test_nothing_cached_and_offline_names_the_repo_and_the_remedies(hf_cache, capsys):
    with pytest.raises(HubUnavailableError) as info:
        load_pretrained("tf_efficientnetv2_m.in1k", device="cpu")
    message = str(info.value)
    assert "timm/tf_efficientnetv2_m.in1k/model.safetensors is not in the Hugging Face cache" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "`python -m effnetv2 download tf_efficientnetv2_m.in1k`" in message
    assert "--weights FILE or EFFNETV2_WEIGHTS=FILE" in message and "\n" not in message
    code, err = _cli(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "m"], capsys)
    assert code == 2 and "is not in the Hugging Face cache" in err
    code, err = _cli(["download", "m"], capsys)
    assert code == 2 and "python -m effnetv2 download: error: timm/tf_efficientnetv2_m" in err


def test_unknown_checkpoint_in_api_and_cli(capsys):
    with pytest.raises(UnknownCheckpointError, match=r"did you mean tf_efficientnetv2_b0\.in1k"):
        load_pretrained("tf_efficientnetv2_b0.in1", device="cpu")
    code, err = _cli(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "efficientnet_b0x"], capsys)
    assert code == 2 and "unknown checkpoint 'efficientnet_b0x'; did you mean" in err
    code, err = _cli(["download", "b00"], capsys)
    assert code == 2 and "unknown checkpoint 'b00'; did you mean b0" in err


# -- local files: weights= and EFFNETV2_WEIGHTS ---------------------------------------------------------------


def test_local_weights_skip_the_hub(b0_checkpoint, b0_timm):
    p = load_pretrained("tf_efficientnetv2_b0.in1k", weights=b0_checkpoint, device="cpu", size="train")
    assert p.weights_path == b0_checkpoint and p.config.size == 192
    x = torch.randn(1, 3, 192, 192)
    with torch.no_grad():
        torch.testing.assert_close(p.model(x), b0_timm(x), rtol=0, atol=1e-5)


def test_weights_environment_variable(b0_checkpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("EFFNETV2_WEIGHTS", str(b0_checkpoint))
    assert load_pretrained("b0", device="cpu").weights_path == b0_checkpoint
    monkeypatch.setenv("EFFNETV2_WEIGHTS", f"b0={b0_checkpoint}:s={tmp_path / 's.safetensors'}")
    assert weights_from_env("tf_efficientnetv2_b0.in1k") == b0_checkpoint
    assert weights_from_env("b1") is None
    with pytest.raises(CorruptWeightsError, match=r"s\.safetensors \(EFFNETV2_WEIGHTS\): no such weights file"):
        load_pretrained("s", device="cpu")


def test_corrupt_local_file_in_api_and_cli(b0_checkpoint, tmp_path, capsys):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b0_checkpoint.read_bytes()[:2_000_000])
    with pytest.raises(CorruptWeightsError, match=r"truncated or corrupt: 2000000 bytes, but its header describes"):
        load_pretrained("b0", weights=bad, device="cpu")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    code, err = _cli(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "b0", "--weights", str(junk)], capsys)
    assert code == 2 and "junk.safetensors: not a safetensors file" in err
    pickle = tmp_path / "model.pth"
    pickle.write_bytes(b"\x80\x04")
    with pytest.raises(CorruptWeightsError, match=r"only \.safetensors weight files are read"):
        load_pretrained("b0", weights=pickle, device="cpu")


def test_weights_that_do_not_fit_say_how_many_keys_differ(b0_checkpoint, capsys):
    with pytest.raises(WeightsMismatchError) as info:
        load_pretrained("tf_efficientnetv2_s.in1k", weights=b0_checkpoint, device="cpu")
    message = str(info.value)
    assert message.startswith("model.safetensors for tf_efficientnetv2_s.in1k: weights do not fit efficientnetv2_s")
    assert "missing" in message and "of the wrong shape" in message
    code, err = _cli(
        ["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "s", "--weights", str(b0_checkpoint)], capsys
    )
    assert code == 2 and "weights do not fit efficientnetv2_s" in err


def test_unreadable_images_in_the_cli(b0_checkpoint, tmp_path, capsys):
    argv = ["predict", "--checkpoint", "b0", "--weights", str(b0_checkpoint)]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, err = _cli([*argv, str(empty)], capsys)
    assert code == 2 and "empty.png: the file is empty" in err
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes((ASSETS / "chelsea.jpg").read_bytes()[:3000])
    code, err = _cli([*argv, str(truncated)], capsys)
    assert code == 2 and "cut.jpg: cannot be decoded (truncated or corrupt?)" in err
    code, err = _cli([*argv, str(tmp_path / "missing.jpg")], capsys)
    assert code == 2 and "missing.jpg: no such image file" in err
    assert err.count("missing.jpg") == 1, err  # the path once (was "X: X: no such image file")
    code, err = _cli(
        [*argv, str(ASSETS / "chelsea.jpg"), "--device", "cuda:7" if torch.cuda.is_available() else "cuda"], capsys
    )
    assert code == 2 and "cuda" in err


# -- the in-memory model cache --------------------------------------------------------------------------------


def test_models_are_cached_shared_across_sizes_and_bounded(hf_cache, b0_checkpoint, tmp_path):
    clear_cache()
    a = load_pretrained("b0", device="cpu")
    b = load_pretrained(B0, device=torch.device("cpu"), size="train")
    assert a.model is b.model and a.transform.size != b.transform.size
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(b0_checkpoint.read_bytes())
    load_pretrained("b0", weights=b0_checkpoint, device="cpu")
    load_pretrained("b0", weights=copy, device="cpu")
    keys = cached_models()
    assert len(keys) == 2 and keys[-1][1] == str(copy.resolve())  # the Hub copy, least recently used, is gone
    assert load_pretrained("b0", device="cpu").model is not a.model


def test_concurrent_requests_load_once():
    cache, calls, lock = ModelCache(2), [], threading.Lock()

    def load(key):
        with lock:
            calls.append(key)
        time.sleep(0.2)
        return object()

    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.update({i: cache.get(i % 2, lambda i=i: load(i % 2))}))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == [0, 1]  # one load per key, though 4 threads asked for each at once
    assert len({id(results[i]) for i in (0, 2, 4, 6)}) == 1 and results[0] is not results[1]


def test_a_failed_load_is_not_cached_and_can_be_retried():
    cache, attempts = ModelCache(2), []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("first try fails")
        return "model"

    with pytest.raises(OSError):
        cache.get("k", flaky)
    assert cache.get("k", flaky) == "model" and len(attempts) == 2


def test_concurrent_load_pretrained_returns_one_model(hf_cache):
    clear_cache()
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(load_pretrained("b0", device="cpu").model)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and all(m is out[0] for m in out)


def test_verify_safetensors_accepts_a_good_file(b0_checkpoint):
    verify_safetensors(b0_checkpoint)


# -- (b) a loopback fake Hub through HF_ENDPOINT, and other caches, in fresh interpreters -----------------------


def test_fake_hub_download_pinned_revision_missing_file_then_offline(fake_hub, two_b0_versions, tmp_path):
    v1, v2 = two_b0_versions
    old = fake_hub.add(B0_REPO, {"model.safetensors": v1, "config.json": b"{}"})
    new = fake_hub.add(B0_REPO, {"model.safetensors": v2, "config.json": b"{}"})
    fake_hub.add("timm/tf_efficientnetv2_b1.in1k", {"config.json": b"{}"})  # a repo without weights
    cache = tmp_path / "hub"
    online = hf_env(cache, endpoint=fake_hub.url)
    got = run_scenario(
        f"""
attempt("main", lambda: download("b0"))
attempt("pinned", lambda: download("b0", revision="{old}"))
stem = lambda p: p.model.stem.conv.weight.sum().item()
attempt("pinned_load", lambda: stem(load_pretrained("b0", revision="{old}", device="cpu")))
attempt("main_load", lambda: stem(load_pretrained("b0", device="cpu")))
attempt("missing_file", lambda: download("tf_efficientnetv2_b1.in1k"))
attempt("missing_repo", lambda: download("b2"))
attempt("bad_revision", lambda: download("b0", revision="v9.9"))
""",
        online,
    )
    assert got["main"]["ok"] == str(cache / f"models--timm--{B0}" / "snapshots" / new / "model.safetensors")
    assert got["pinned"]["ok"] == str(cache / f"models--timm--{B0}" / "snapshots" / old / "model.safetensors")
    assert Path(got["main"]["ok"]).read_bytes() == v2.read_bytes()
    assert Path(got["pinned"]["ok"]).read_bytes() == v1.read_bytes()
    assert (cache / f"models--timm--{B0}" / "refs" / "main").read_text() == new
    from safetensors.torch import load_file

    assert float(got["pinned_load"]["ok"]) == pytest.approx(load_file(v1)["conv_stem.weight"].sum().item(), abs=1e-4)
    assert float(got["main_load"]["ok"]) == pytest.approx(load_file(v2)["conv_stem.weight"].sum().item(), abs=1e-4)
    assert got["missing_file"] == {
        "error": "HubError",
        "message": "timm/tf_efficientnetv2_b1.in1k has no file model.safetensors at revision main",
    }
    assert got["missing_repo"]["error"] == "HubError"
    assert got["missing_repo"]["message"].startswith("repository timm/tf_efficientnetv2_b2.in1k not found on the Hub")
    assert got["bad_revision"]["message"].startswith(f"{B0_REPO} has no revision 'v9.9' on the Hub (http://127.0.0.1")
    assert ("GET", f"/{B0_REPO}/resolve/{old}/model.safetensors") in fake_hub.requests

    # The same cache, offline: both revisions load without a request.
    before = len(fake_hub.requests)
    got = run_scenario(
        f"""
attempt("main", lambda: load_pretrained("b0", device="cpu").weights_path)
attempt("pinned", lambda: load_pretrained("b0", revision="{old}", device="cpu").weights_path)
""",
        hf_env(cache, offline=True),
    )
    assert got["main"]["ok"].endswith(f"{new}/model.safetensors") and got["pinned"]["ok"].endswith(
        f"{old}/model.safetensors"
    )
    assert len(fake_hub.requests) == before


def test_cli_download_and_a_corrupt_cached_copy_repaired_with_force(fake_hub, two_b0_versions, tmp_path):
    v1, _ = two_b0_versions
    commit = fake_hub.add(B0_REPO, {"model.safetensors": v1})
    cache = tmp_path / "hub"
    # The Hub's file in the cache, then truncated on disk (an interrupted copy of the cache, a full disk).
    snapshot = add_to_hf_cache(cache, B0_REPO, {"model.safetensors": v1}, commit=commit)
    blob = (snapshot / "model.safetensors").resolve()
    blob.write_bytes(v1.read_bytes()[:100_000])
    offline = hf_env(cache, offline=True)
    result = run_cli(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "b0"], offline)
    line = _one_line_cli_error(
        result, "truncated or corrupt", "will not be used", "download tf_efficientnetv2_b0.in1k --force"
    )
    assert str(cache) in line  # names the file
    online = hf_env(cache, endpoint=fake_hub.url)
    result = run_cli(["download", "b0"], online)
    _one_line_cli_error(result, "--force")  # hf reuses a cached file whose name matches: still refused
    result = run_cli(["download", "b0", "--force"], online)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).read_bytes() == v1.read_bytes()
    result = run_cli(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "b0", "--json", "--topk", "1"], offline)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["top"][0].keys() == {"index", "label", "prob"}


def test_unreachable_hub_and_nothing_cached(tmp_path):
    """HF_ENDPOINT at a closed port: one line at once, not after huggingface_hub's ~23 s of retries (the probe,
    ``hub_reachable``, sends the download to the cache alone)."""
    start = time.perf_counter()
    run_cli(["download", "b0"], hf_env(tmp_path / "hub", offline=True))  # the same CLI, no network at all
    offline = time.perf_counter() - start
    start = time.perf_counter()
    result = run_cli(["download", "b0"], hf_env(tmp_path / "hub"))
    elapsed = time.perf_counter() - start
    _one_line_cli_error(
        result,
        f"{B0_REPO}/model.safetensors is not in the Hugging Face cache",
        "is unreachable",
        "python -m effnetv2 download tf_efficientnetv2_b0.in1k",
        "--weights FILE or EFFNETV2_WEIGHTS=FILE",
    )
    assert "Retrying in" not in result.stderr
    assert elapsed - offline < 8, f"{elapsed:.1f} s against {offline:.1f} s offline: the retries (23 s) are back"


def test_unreachable_hub_with_the_file_cached_loads_it_without_retries(b0_checkpoint, tmp_path):
    """Online settings, Hub down, weights in the cache: the README's first example works offline."""
    cache = tmp_path / "hub"
    add_to_hf_cache(cache, B0_REPO, {"model.safetensors": b0_checkpoint})
    got = run_scenario(
        """
import time
start = time.perf_counter()
attempt("load", lambda: load_pretrained("b0", device="cpu").checkpoint.name)
attempt("seconds", lambda: time.perf_counter() - start)
""",
        hf_env(cache),
    )
    assert got["load"] == {"ok": "tf_efficientnetv2_b0.in1k"}
    assert float(got["seconds"]["ok"]) < 10


def test_the_probe_sees_a_running_hub_and_not_a_closed_port(fake_hub, tmp_path):
    code = "from effnetv2.hub import hub_reachable; print(hub_reachable())"
    assert run_python(code, hf_env(tmp_path / "hub", endpoint=fake_hub.url)).stdout.strip() == "True"
    assert run_python(code, hf_env(tmp_path / "hub")).stdout.strip() == "False"
    assert run_python(code, hf_env(tmp_path / "hub", endpoint=fake_hub.url, offline=True)).stdout.strip() == "False"


HUB_MEMORY = """
import time
from effnetv2 import download
from effnetv2.hub import fetched
for name in ["xl", "xl", "b0", "b0"]:
    start = time.perf_counter()
    try:
        out = "ok " + str(download(name) == fetched(name))
    except Exception as exc:
        out = type(exc).__name__ + " " + str(exc)
    print(f"{time.perf_counter() - start:.2f}", out)
"""


@pytest.mark.slow
def test_an_unreachable_hub_is_remembered_so_a_missing_checkpoint_answers_at_once(hf_cache, tmp_path):
    """The first call for an uncached checkpoint finds the Hub unreachable (its probe, up to 2 s; before the probe,
    the client's ~23 s of retries); within a minute the next answers from the client's offline mode at once, with
    no probe, saying when the Hub was asked, and a cached checkpoint still loads (remembered once found: no
    second call to the Hub)."""
    result = run_python(HUB_MEMORY, hf_env(hf_cache), timeout=300)
    lines = [line.split(" ", 2) for line in result.stdout.strip().splitlines()]
    assert len(lines) == 4, result.stderr[-3000:]
    (first_s, first, why), (again_s, again, said), (_, b0, same), (b0_again_s, _, _) = lines
    assert first == again == "HubUnavailableError" and "is unreachable" in why, why
    assert float(again_s) < 5 and float(first_s) < 10, lines  # was ~23 s each time
    assert re.search(r"\(http://127\.0\.0\.1:\d+\) did not answer \d+ s ago \(asked again \d+ s from now\)", said)
    assert b0 == "ok" and same == "True" and float(b0_again_s) < 1


def test_unknown_checkpoint_cli_in_a_fresh_interpreter(tmp_path):
    result = run_cli(["download", "tf_efficientnetv2_s.in21k"], hf_env(tmp_path / "hub", offline=True))
    _one_line_cli_error(result, "21843-class", "tf_efficientnetv2_s.in21k_ft_in1k")
