"""The launched app through gradio_client: every named endpoint, bounds and one-line errors, offline."""

import pytest
from appserver import PHOTO, TEST_CHECKPOINT, running_app  # sets GRADIO_TEMP_DIR before gradio is imported
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from effnetv2 import service


@pytest.fixture(scope="module")
def client(hf_cache):
    with running_app() as url:
        yield Client(url, verbose=False)


def _classify(client, image=PHOTO, checkpoint=TEST_CHECKPOINT, topk=3, path="plain"):
    arg = handle_file(str(image)) if image is not None else None
    return client.predict(arg, checkpoint, topk, path, api_name="/classify")


def test_named_endpoints_and_nothing_else(client):
    api = client.view_api(return_format="dict", print_info=False)
    named = set(api["named_endpoints"])
    assert {"/classify", "/gradcam", "/latency", "/compare"} <= named
    assert named - {"/classify", "/gradcam", "/latency", "/compare"} == set()  # UI plumbing is private
    first = api["named_endpoints"]["/classify"]["parameters"][0]
    assert first["component"] == "Image"


def test_classify_returns_the_models_top_k(client):
    label, crop, timing, _ = _classify(client, topk=3)
    direct = service.classify(PHOTO, TEST_CHECKPOINT, 3, "plain")
    got = [(c["label"], c["confidence"]) for c in label["confidences"]]
    want = [(p.label, p.prob) for p in direct.predictions]
    assert [g[0] for g in got] == [w[0] for w in want] and label["label"] == want[0][0]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], abs=1e-5)
    assert "ms" in timing and TEST_CHECKPOINT in timing
    from PIL import Image

    assert Image.open(crop["path"] if isinstance(crop, dict) else crop).size == (224, 224)  # B0's test size


def test_optimized_fp32_path_agrees_with_plain(client):
    plain = _classify(client, topk=5, path="plain")[0]
    fast = _classify(client, topk=5, path="fp32")[0]
    assert [c["label"] for c in fast["confidences"]] == [c["label"] for c in plain["confidences"]]
    assert [c["confidence"] for c in fast["confidences"]] == pytest.approx(
        [c["confidence"] for c in plain["confidences"]], abs=1e-3
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topk": 0}, "minimum value 1"),  # the slider's own bound, before service.TOPK
        ({"topk": 11}, "maximum value 10"),
        ({"image": None}, "no image"),
        ({"checkpoint": "tf_efficientnetv2_q"}, "not in the list of choices"),  # the dropdown's check
        ({"path": "turbo"}, "not in the list of choices"),
        ({"checkpoint": "tf_efficientnetv2_m.in1k"}, "python -m effnetv2 download"),
    ],
)
def test_bad_classify_requests_get_one_line_and_the_next_request_works(client, kwargs, message):
    with pytest.raises(AppError) as err:
        _classify(client, **kwargs)
    text = str(err.value)
    assert message in text and "\n" not in text.strip() and "Traceback" not in text
    assert _classify(client)[0]["label"]


def test_a_text_file_is_refused_as_an_image(client, tmp_path):
    fake = tmp_path / "not_an_image.jpg"
    fake.write_text("hello")
    with pytest.raises(AppError):
        _classify(client, image=fake)
    assert _classify(client)[0]["label"]
