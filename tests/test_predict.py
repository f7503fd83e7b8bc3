"""Top-k prediction with a test-made checkpoint equals timm's model + timm's transform; bad input is refused."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from timm.models import get_pretrained_cfg

from effnetv2 import ImageError, Prediction, load_pretrained, predict
from effnetv2.cli import main

ASSETS = Path(__file__).resolve().parents[1] / "assets"
NAME = "tf_efficientnetv2_b0.in1k"


@pytest.mark.parametrize("size", ["test", "train"])
@pytest.mark.parametrize("photo", ["chelsea.jpg", "rocket_portrait.jpg"])
def test_topk_equals_timm_model_and_transform(hf_cache, b0_timm, size, photo):
    """The done-when check of issue 3: same top-k indices, probabilities within 1e-4, at both sizes."""
    pretrained = load_pretrained(NAME, device="cpu", size=size)
    assert pretrained.config.size == (224 if size == "test" else 192)
    got = predict(pretrained, [ASSETS / photo], topk=5)[0]

    cfg = resolve_data_config({}, pretrained_cfg=get_pretrained_cfg(NAME).to_dict(), use_test_size=size == "test")
    x = create_transform(**cfg)(Image.open(ASSETS / photo).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        ref = b0_timm(x).softmax(1)[0].topk(5)
    assert [p.index for p in got] == ref.indices.tolist()
    assert max(abs(p.prob - q) for p, q in zip(got, ref.values.tolist(), strict=True)) <= 1e-4
    assert [p.label for p in got] == [pretrained.labels[i] for i in ref.indices.tolist()]
    assert got[0].prob >= got[-1].prob


def test_batch_equals_one_by_one_and_accepts_every_kind_of_source(hf_cache):
    pretrained = load_pretrained("b0", device="cpu")
    path = ASSETS / "coffee.jpg"
    image = Image.open(path)
    sources = [path, str(path), path.read_bytes(), image, image.convert("CMYK")]
    batch = predict(pretrained, sources, topk=3)
    assert len(batch) == 5 and all(len(row) == 3 for row in batch)
    single = predict(pretrained, [path], topk=3)[0]
    for row in batch[:4]:
        assert [p.index for p in row] == [p.index for p in single]
        assert row[0].prob == pytest.approx(single[0].prob, abs=1e-5)
    assert isinstance(single[0], Prediction) and single[0].to_dict().keys() == {"index", "label", "prob"}


def test_labels_are_imagenets_1000_names(hf_cache):
    labels = load_pretrained("b0", device="cpu").labels
    assert len(labels) == 1000 and labels[0] == "tench" and labels[285] == "Egyptian cat"


@pytest.mark.parametrize("topk", [0, 1001, 2.5, True])
def test_topk_out_of_range_is_a_value_error(hf_cache, topk):
    with pytest.raises(ValueError, match=r"topk must be a whole number from 1 to 1000"):
        predict(load_pretrained("b0", device="cpu"), [ASSETS / "chelsea.jpg"], topk=topk)


def test_unreadable_image_is_an_image_error(hf_cache, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes.jpg: not an image file PIL can read"):
        predict(load_pretrained("b0", device="cpu"), [bad])


def test_cli_predict_text_and_json(hf_cache, capsys):
    assert main(["predict", str(ASSETS / "chelsea.jpg"), "--checkpoint", "b0", "--topk", "2", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("chelsea.jpg") and len(lines) == 3 and lines[1].strip().startswith("1.")
    argv = ["predict", str(ASSETS / "chelsea.jpg"), str(ASSETS / "coffee.jpg"), "--checkpoint", NAME, "--json"]
    assert main([*argv, "--size", "train", "--topk", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [Path(r["image"]).name for r in out] == ["chelsea.jpg", "coffee.jpg"]
    assert all(len(r["top"]) == 3 and set(r["top"][0]) == {"index", "label", "prob"} for r in out)
    expected = predict(load_pretrained(NAME, device="cpu", size="train"), [ASSETS / "coffee.jpg"], topk=3)[0]
    assert [t["index"] for t in out[1]["top"]] == [p.index for p in expected]
