"""The launched app through gradio_client: every named endpoint, bounds and one-line errors, offline."""

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from effnetv2.backend import classify
from effnetv2.testing.appserver import (  # sets GRADIO_TEMP_DIR before gradio is imported
    PHOTO,
    TEST_CHECKPOINT,
    running_app,
)


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
    public = {"/classify", "/gradcam", "/latency", "/compare", "/explain", "/sanity", "/feature_maps"}
    assert public <= named
    assert named - public == set()  # UI plumbing is private
    first = api["named_endpoints"]["/classify"]["parameters"][0]
    assert first["component"] == "Image"


def test_classify_returns_the_models_top_k(client):
    label, timing, _ = _classify(client, topk=3)
    direct = classify.classify(PHOTO, TEST_CHECKPOINT, 3, "plain")
    got = [(c["label"], c["confidence"]) for c in label["confidences"]]
    want = [(p.label, p.prob) for p in direct.predictions]
    assert [g[0] for g in got] == [w[0] for w in want] and label["label"] == want[0][0]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], abs=1e-5)
    assert "ms" in timing and TEST_CHECKPOINT in timing


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
        # the image events skip Gradio's preprocessing, so every value meets effnetv2's own checks
        ({"topk": 0}, "top-k must be from 1 to 10, got 0"),
        ({"topk": 11}, "top-k must be from 1 to 10, got 11"),
        ({"image": None}, "no image"),
        ({"checkpoint": "tf_efficientnetv2_q"}, "unknown checkpoint 'tf_efficientnetv2_q'; did you mean"),
        ({"path": "turbo"}, "inference path must be one of fast, fp32, plain, got 'turbo'"),
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


def test_gradcam_returns_an_overlay_on_the_crop_the_model_saw(client):
    from PIL import Image

    overlay, crop, caption = client.predict(
        handle_file(str(PHOTO)), TEST_CHECKPOINT, "stage6", -1, 0.5, "jet", api_name="/gradcam"
    )
    top1 = classify.classify(PHOTO, TEST_CHECKPOINT, 1, "plain").predictions[0]
    assert Image.open(overlay).size == Image.open(crop).size == (224, 224)
    assert "stage6" in caption and top1.label in caption
    with pytest.raises(AppError, match=r"Grad-CAM stage must be one of stage1, .*, head, got 'stage9'"):
        client.predict(handle_file(str(PHOTO)), TEST_CHECKPOINT, "stage9", -1, 0.5, "jet", api_name="/gradcam")
    # Any class index (not only the top-k shown in the UI) works through the API; out of range is one line.
    overlay, _, caption = client.predict(
        handle_file(str(PHOTO)), TEST_CHECKPOINT, "head", 281, 0.3, "viridis", api_name="/gradcam"
    )
    assert "class 281" in caption
    with pytest.raises(AppError, match="class must be from -1 to 999"):
        client.predict(handle_file(str(PHOTO)), TEST_CHECKPOINT, "head", 5000, 0.3, "jet", api_name="/gradcam")


def test_latency_reports_every_stage_and_its_measurement_facts(client):
    result, plot, _shares, facts = client.predict(
        "efficientnetv2_b0", "", 64, 1, 2, "cpu", "fp32", "1", "en", api_name="/latency"
    )
    assert [s["name"] for s in result["stages"]] == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    assert result["device"] and result["dtype"] == "fp32" and result["batch"] == 1 and result["image_size"] == 64
    assert result["stage_sum_ms"] > 0 and result["total_ms"] > 0 and plot is not None
    assert "threads 1" in facts and "batch 1" in facts and "load average" in facts
    assert result["total_low_ms"] <= result["total_ms"] <= result["total_high_ms"]
    assert "identical runs vary" in result["noise"]
    with pytest.raises(AppError, match="greater than maximum value 16"):  # the slider bound
        client.predict("efficientnetv2_b0", "", 64, 1000, 2, "cpu", "fp32", "1", "en", api_name="/latency")


def test_compare_puts_the_chosen_blocks_beside_the_all_mbconv_baseline(client):
    result, *_figs, table, verdicts = client.predict(
        "efficientnetv2_b0", "FFFMMM", 64, 1, 2, False, "1", "en", api_name="/compare"
    )
    assert result["baseline"]["blocks"] == "MMMMMM" and result["variants"][0]["blocks"] == "FFFMMM"
    assert result["baseline"]["note"] == "random weights: speed and size only" and result["variants"][0]["note"] is None
    assert result["variants"][0]["params"] != result["baseline"]["params"]
    assert [row[0] for row in table["value"]["data"]] == ["baseline MMMMMM", "FFFMMM"]
    assert result["variants"][0]["latency_verdict"]["verdict"] in ("faster", "slower", "can't tell", "too noisy")
    assert "Latency: FFFMMM @ 64px" in verdicts and "load average" in verdicts and "1 thread(s), as set." in verdicts
    # the baseline's own blocks: an A/A comparison, said so on the page
    result, *_figs, table, verdicts = client.predict(
        "efficientnetv2_b0", "MMMMMM", 64, 1, 2, False, "1", "en", api_name="/compare"
    )
    assert [row[0] for row in table["value"]["data"]] == ["baseline MMMMMM", "MMMMMM (A/A)"] and "A/A" in verdicts
    with pytest.raises(AppError, match="must be 6 letters"):
        client.predict("efficientnetv2_b0", "FFX", 64, 1, 1, False, "1", "en", api_name="/compare")


def test_long_work_reports_progress_to_the_page(client):
    """The page's own protocol (queue join + event stream): a long torch event, here the Table 3 measurement,
    sends progress messages before its result, through the async torch handler and the torch thread."""
    import json

    import httpx

    with httpx.Client(base_url=client.src, timeout=120) as http:
        deps = http.get("config").json()["dependencies"]
        fn_index = next(d["id"] for d in deps if d["api_name"] == "measure_table3")
        body = {"data": [64, "en"], "fn_index": fn_index, "session_hash": "progress-test", "trigger_id": None}
        http.post("gradio_api/queue/join", json=body).raise_for_status()
        messages = []
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": "progress-test"}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1]["msg"] == "process_completed":
                        break
    kinds = [m["msg"] for m in messages]
    assert kinds[-1] == "process_completed" and messages[-1]["success"], messages[-1]
    progress = [m["progress_data"][0] for m in messages if m["msg"] == "progress"]
    assert progress and kinds.index("progress") < kinds.index("process_completed")
    assert any(p["desc"].startswith("FFFMMMM @ 64px: warm-up") for p in progress), progress  # the variants, by name
    assert any(p["desc"].startswith("round ") for p in progress), progress  # then the interleaved rounds


def test_the_api_listing_is_plain_english(client):
    """view_api showed labels as {'key': 'ev2_image', '_type': 'translation_metadata'} (gr.I18n labels): every
    label is now text, and every parameter has a description (the handler's docstring, else its label)."""
    api = client.view_api(return_format="dict", print_info=False)
    for name, endpoint in api["named_endpoints"].items():
        for p in endpoint["parameters"] + endpoint["returns"]:
            assert p["label"] is None or isinstance(p["label"], str), (name, p["label"])
            assert "__i18n__" not in str(p["label"]) and "translation_metadata" not in str(p["label"])
        for p in endpoint["parameters"]:
            assert p["python_type"]["description"], (name, p["parameter_name"])
    classify_params = {p["parameter_name"]: p for p in api["named_endpoints"]["/classify"]["parameters"]}
    assert classify_params["image"]["label"] == "Image"
    assert classify_params["topk"]["python_type"]["description"].startswith("how many classes to return")
    assert "numeric value between 1 and 10" in classify_params["topk"]["python_type"]["description"]
    assert api["named_endpoints"]["/classify"]["description"].startswith("The top-k ImageNet classes")
    named = api["named_endpoints"]
    returns = {name: [r["label"] for r in named[name]["returns"]] for name in ("/classify", "/gradcam")}
    assert returns == {
        "/classify": ["Predictions", "Timing", "Class"],
        "/gradcam": ["Grad-CAM", "What the model saw (resized and cropped)", "Grad-CAM caption"],
    }
    for name in ("/explain", "/sanity", "/feature_maps"):
        assert all(r["label"] for r in api["named_endpoints"][name]["returns"]), name  # not value_123
    # What a person reads: view_api's printed listing.
    text = client.view_api(return_format="str", print_info=False)
    assert "translation_metadata" not in text and "inference path: fast" in text
