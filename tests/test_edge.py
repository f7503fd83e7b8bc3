"""Bad values over every route of the launched app get one line that says what was wrong (issue #15, items 5-8).

Each case goes where an outside tester sent it: raw REST (``/gradio_api/call/NAME`` and its event stream,
``/gradio_api/run/NAME``, plain HTTP with httpx) and ``gradio_client`` (the page's own protocol, the queue).
Each asserts the line (never ``{"error": null}``, never Gradio's "verbose error reporting" notice, never a
path of the server, never a user's value at full length) and that the very next good request works.
"""

from __future__ import annotations

import json
import math
import re
import time

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import effnetv2
from effnetv2.backend import lab, limits
from effnetv2.backend.public import visitor_text, without_paths
from effnetv2.config import Blocks
from effnetv2.errors import BoundsError, shorten
from effnetv2.testing.abuse import stalled_call
from effnetv2.testing.appserver import (  # sets GRADIO_TEMP_DIR before gradio is imported
    PHOTO,
    ROOT,
    TEST_CHECKPOINT,
    app_process,
    expected_labels,
    labels,
    one_line,
    rest_event,
    running_app,
    shipped_env,
)

LATENCY = ["efficientnetv2_b0", "", 64, 1, 1, "cpu", "fp32", "1", "en"]  # model, blocks, size, batch, runs, ...
COMPARE = ["efficientnetv2_b0", "MMMMMM", 64, 1, 1, False, "1", "en"]  # model, blocks, size, batch, runs, train, ...
UPLOAD_ONLY = "image must be a file uploaded to this server"


@pytest.fixture(scope="module")
def app_url(hf_cache):
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def http(app_url):
    with httpx.Client(base_url=app_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def upload(http) -> dict:
    """PHOTO uploaded as the page uploads it: the value an image field takes."""
    r = http.post("gradio_api/upload", files={"files": PHOTO.open("rb")})
    r.raise_for_status()
    return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}


def call(http: httpx.Client, api: str, data, raw: bytes | None = None) -> tuple[str, object]:
    """POST /gradio_api/call/API, then its event stream: ("complete", outputs), ("error", message) or, when the
    POST itself is refused, ("http <status>", its JSON)."""
    if raw is None:
        r = http.post(f"gradio_api/call/{api}", json={"data": data})
    else:
        r = http.post(f"gradio_api/call/{api}", content=raw, headers={"content-type": "application/json"})
    if r.status_code != 200:
        return f"http {r.status_code}", r.json()
    kind, data = rest_event(http, api, r.json()["event_id"])
    return kind, data["error"] if kind == "error" and isinstance(data, dict) else data


def assert_visitor_line(message: object) -> str:
    """One line, said, with no server path and no long echo."""
    assert isinstance(message, str) and message, f"no message: {message!r}"
    text = one_line(RuntimeError(message))
    assert "verbose error reporting" not in text and len(text) <= 520, text
    for secret in (str(ROOT), "/tmp/", "/root/", "site-packages"):
        assert secret not in text, text
    return text


def refused(http: httpx.Client, api: str, data, message: str) -> None:
    kind, got = call(http, api, data)
    assert kind == "error", (kind, got)
    assert message in assert_visitor_line(got)


def works(http: httpx.Client, api: str, upload: dict) -> None:
    """The next good request of the same endpoint succeeds."""
    good = {"latency": LATENCY, "compare": COMPARE, "classify": [upload, TEST_CHECKPOINT, 3, "plain"],
            "gradcam": [upload, TEST_CHECKPOINT, "stage6", -1, 0.5, "jet"]}[api]  # fmt: skip
    kind, out = call(http, api, good)
    assert kind == "complete", out
    if api == "classify":
        assert labels(out[0]) == expected_labels(PHOTO)


def _with(base: list, index: int, value) -> list:
    args = list(base)
    args[index] = value
    return args


# -- item 5: numbers, booleans, choices and text of the wrong kind ----------------------------------------------

TYPED = [
    ("latency", _with(LATENCY, 2, "1e3"), "size must be a number from 32 to 640, got the string '1e3'"),
    ("latency", _with(LATENCY, 2, "64"), "size must be a number from 32 to 640, got the string '64'"),
    ("latency", _with(LATENCY, 2, [64]), "size must be a number from 32 to 640, got a list of 1"),
    ("latency", _with(LATENCY, 2, None), "size must be a number from 32 to 640, got null"),
    ("latency", _with(LATENCY, 2, True), "size must be a number from 32 to 640, got the boolean true"),
    ("latency", _with(LATENCY, 3, "64"), "batch must be a number from 1 to 16, got the string '64'"),
    ("latency", _with(LATENCY, 3, {"n": 1}), "batch must be a number from 1 to 16, got an object"),
    ("latency", _with(LATENCY, 4, [1]), "runs must be a number from 1 to 30, got a list of 1"),
    ("latency", _with(LATENCY, 0, ["efficientnetv2_b0"]), "model must be one of its choices, got a list of 1"),
    ("latency", _with(LATENCY, 1, 123), "blocks must be text, got the number 123"),
    ("compare", _with(COMPARE, 2, "64"), "size must be a number from 32 to 640, got the string '64'"),
    ("compare", _with(COMPARE, 3, [1]), "batch must be a number from 1 to 16, got a list of 1"),
    ("compare", _with(COMPARE, 4, "1"), "runs must be a number from 1 to 100, got the string '1'"),
    ("compare", _with(COMPARE, 6, {"x": 1}), "threads must be one of its choices, got an object"),
    ("compare", _with(COMPARE, 7, {"x": 1}), "lang must be one of its choices, got an object"),
    # Gradio's own line; its "<class" would open a tag in the page's toast (public.inert)
    ("compare", _with(COMPARE, 7, 7), "Value: 7 (type: &lt;class 'int'>) is not in the list of choices"),
    ("classify", [None, TEST_CHECKPOINT, "3", "plain"], "top-k must be a whole number from 1 to 10, got '3'"),
    ("classify", [None, TEST_CHECKPOINT, [3], "plain"], "top-k must be a whole number from 1 to 10, got [3]"),
    ("classify", [None, {"name": "b0"}, 3, "plain"], "checkpoint must be one of its choices, got an object"),
]


@pytest.mark.parametrize(("api", "data", "message"), TYPED, ids=[f"{a}-{m[:40]}" for a, _, m in TYPED])
def test_values_of_the_wrong_kind_get_one_line_then_the_next_request_works(http, upload, api, data, message):
    refused(http, api, data, message)
    works(http, api, upload)


@pytest.mark.parametrize("train", ["false", "true", 0, 1, None, [False]], ids=repr)
def test_compare_takes_a_real_boolean_for_train(http, upload, train):
    """Item 6: the string "false" was truthy and trained; now anything but true/false is refused, unmeasured."""
    refused(http, "compare", _with(COMPARE, 5, train), "train must be true or false, got ")
    works(http, "compare", upload)


def test_compare_with_train_false_does_not_train(http):
    kind, out = call(http, "compare", COMPARE)
    assert kind == "complete" and out[0]["train_batch"] is None
    assert all(row["images_per_s"] is None for row in [out[0]["baseline"], *out[0]["variants"]])


def test_the_python_api_refuses_a_string_for_train_before_measuring():
    blocks = Blocks.parse("efficientnetv2_b0", "MMMMMM")
    for train in ("false", "False", 0, None):
        with pytest.raises(BoundsError, match="train must be true or false, got "):
            lab.compare(blocks, 64, 1, 1, train)  # the app's back end
        with pytest.raises(BoundsError, match="train must be true or false, got "):
            effnetv2.compare("efficientnetv2_b0", ["MMMMMM"], image_size=64, runs=1, train=train)  # the engine
        with pytest.raises(BoundsError, match="train must be true or false, got "):
            effnetv2.benchmark("efficientnetv2_b0", image_size=64, runs=1, train=train)


def test_a_nan_size_is_refused(http, upload):
    """JSON has no NaN, but Python's parser (and so the server's) takes the literal ``NaN``."""
    raw = json.dumps({"data": _with(LATENCY, 2, math.nan)}).encode()
    assert b"NaN" in raw
    kind, got = call(http, "latency", None, raw=raw)
    assert kind == "error" and "size must be a number from 32 to 640, got the number nan" in assert_visitor_line(got)
    works(http, "latency", upload)


# -- item 5: image values that are not uploads -------------------------------------------------------------------

NOT_UPLOADS = [
    (str(PHOTO), "got a file path"),
    ("https://example.com/cat.jpg", "got a URL"),
    ("data:image/png;base64,iVBORw0KGgo=", "got a data: URI"),
    ("cat", "got the string 'cat'"),
    (5, "got the number 5"),
    ([1, 2], "got a list of 2"),
    ({"path": str(PHOTO)}, "got a file that was not uploaded here"),  # no Gradio marker: it used to be read
    ({"path": str(PHOTO), "meta": {"_type": "gradio.FileData"}}, "got a file that was not uploaded here"),
    ({"path": "/etc/passwd"}, "got a file that was not uploaded here"),
    ({"url": "https://example.com/cat.jpg", "meta": {"_type": "gradio.FileData"}}, "got a URL"),
    ({"path": "", "meta": {"_type": "gradio.FileData"}}, "got an object without an uploaded file"),
]


@pytest.mark.parametrize("api", ["classify", "gradcam"])
@pytest.mark.parametrize(("image", "message"), NOT_UPLOADS, ids=[m for _, m in NOT_UPLOADS])
def test_image_values_that_are_not_uploads_are_refused(http, upload, api, image, message):
    rest = [TEST_CHECKPOINT, 3, "plain"] if api == "classify" else [TEST_CHECKPOINT, "stage6", -1, 0.5, "jet"]
    refused(http, api, [image, *rest], f"{UPLOAD_ONLY} (gradio_client's handle_file, or POST /gradio_api/upload")
    refused(http, api, [image, *rest], message)
    works(http, api, upload)


# -- item 5: all-null, too few and too many values ---------------------------------------------------------------

TAKES_LATENCY = "/latency takes 9 values (model, blocks, size, batch, runs, device, dtype, threads, lang), got"
TAKES_COMPARE = "/compare takes 8 values (model, blocks, size, batch, runs, train, threads, lang), got"
ARITY = [
    ("latency", [None] * 9, "model must be one of its choices, got null"),
    ("compare", [None] * 8, "model must be one of its choices, got null"),
    ("classify", [None] * 4, "checkpoint must be one of its choices, got null"),
    ("gradcam", [None] * 6, "checkpoint must be one of its choices, got null"),
    ("latency", [], f"{TAKES_LATENCY} 0"),
    ("compare", ["efficientnetv2_b0"], f"{TAKES_COMPARE} 1"),
    ("classify", [None], "/classify takes 4 values (image, checkpoint, topk, path), got 1"),
    ("latency", [*LATENCY, 5], f"{TAKES_LATENCY} 10"),
]


@pytest.mark.parametrize(("api", "data", "message"), ARITY, ids=[f"{a}-{len(d)}" for a, d, _ in ARITY])
def test_null_or_a_wrong_number_of_values_gets_one_line(http, upload, api, data, message):
    refused(http, api, data, message)
    works(http, api, upload)


# -- the same through gradio_client; /gradio_api/run -------------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "args", "message"),
    [
        ("/latency", _with(LATENCY, 2, "64"), "size must be a number from 32 to 640, got the string '64'"),
        ("/compare", _with(COMPARE, 5, "false"), "train must be true or false, got the string 'false'"),
        ("/classify", [str(PHOTO), TEST_CHECKPOINT, 3, "plain"], f"{UPLOAD_ONLY} (gradio_client's"),
        ("/classify", [None, None, None, None], "checkpoint must be one of its choices, got null"),
    ],
)
def test_gradio_client_gets_the_same_line(client, api, args, message):
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api)
    assert message in assert_visitor_line(str(err.value))
    label, _, _ = client.predict(handle_file(str(PHOTO)), TEST_CHECKPOINT, 3, "plain", api_name="/classify")
    assert labels(label) == expected_labels(PHOTO)


def test_the_run_route_is_closed_so_every_call_meets_the_queue_bound(http, upload):
    """Gradio ran ``/gradio_api/run/NAME`` at once, beside its queue: with ``EFFNETV2_QUEUE_SIZE=4``, ``/call``
    refused 5 of 10 concurrent requests and ``/run`` took all 10. Now 10 concurrent ``/run`` (and ``/api``) calls
    are all refused in one line naming the bounded route, none of them runs, and ``/call`` still works."""
    from concurrent.futures import ThreadPoolExecutor

    def run(path: str) -> httpx.Response:
        return http.post(f"gradio_api/{path}", json={"data": _with(LATENCY, 4, 30)})

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(run, ["run/latency"] * 8 + ["api/latency", "run/latency/"]))
    for r in answers:
        text = assert_visitor_line(r.json()["error"])
        assert r.status_code == 404 and "is closed here: it would skip the queue" in text, text
        assert "POST /gradio_api/call/latency" in text
    works(http, "latency", upload)
    works(http, "classify", upload)


# -- item 8 and the HTTP guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["call", "run", "call/v2"])
def test_an_unknown_endpoint_is_404_and_a_private_one_403(http, upload, route):
    r = http.post(f"gradio_api/{route}/no_such_endpoint", json={"data": []})
    assert r.status_code == 404
    text = assert_visitor_line(r.json()["error"])
    assert "no API endpoint named '/no_such_endpoint'; the endpoints are " in text and "/classify" in text
    r = http.post(f"gradio_api/{route}/on_checkpoint", json={"data": [TEST_CHECKPOINT]})  # UI plumbing
    assert r.status_code == 403
    assert "'/on_checkpoint' is part of the page, not of the API" in assert_visitor_line(r.json()["error"])
    works(http, "classify", upload)


@pytest.mark.parametrize(
    ("index", "said"), [(9999, 9999), ("9999", 9999), ("-1", -1), (9999.0, 9999), (" 7777 ", 7777)]
)
def test_an_unknown_event_index_on_the_queue_route_is_404(http, upload, index, said):
    """FastAPI reads "9999" and 9999.0 as the index 9999 (lax integers), which Gradio then failed on (500)."""
    r = http.post("gradio_api/queue/join", json={"fn_index": index, "session_hash": "edge", "data": []})
    assert r.status_code == 404 and assert_visitor_line(r.json()["error"]) == f"no event with fn_index {said}"
    works(http, "classify", upload)


def test_a_5_mb_string_body_is_413_before_anything_parses_it(http, upload):
    body = json.dumps({"data": ["x" * 5_000_000, TEST_CHECKPOINT, 3, "plain"]}).encode()
    kind, got = call(http, "classify", None, raw=body)
    assert kind == "http 413", kind
    assert limits.MAX_REQUEST_BYTES == 256 * 1024  # the documented default (conftest clears EFFNETV2_*)
    assert "over the limit of 256 kB (EFFNETV2_MAX_REQUEST_BYTES)" in assert_visitor_line(got["error"])
    # the same without a Content-Length (chunked), and through the queue route the page and gradio_client use
    chunked = http.post("gradio_api/call/classify", content=iter([body[:100_000]] * 5))
    assert chunked.status_code == 413
    joined = http.post("gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
    assert joined.status_code == 413
    works(http, "classify", upload)


def test_a_body_that_is_not_json_gets_one_line(http, upload):
    for raw, message in [(b"{{{", "JSON decode error"), (b'{"data": "abc"}', "Input should be a valid list")]:
        kind, got = call(http, "classify", None, raw=raw)
        assert kind == "http 422" and message in assert_visitor_line(got["error"])
    works(http, "classify", upload)


def test_an_upload_without_a_file_name_is_400(http, upload):
    r = http.post("gradio_api/upload", files={"files": ("", b"not a photo")})
    assert r.status_code == 400
    assert "the upload could not be read" in assert_visitor_line(r.json()["error"])
    works(http, "classify", upload)


# -- item 7 and 8: no server path, no 10,000-character line ------------------------------------------------------


def test_a_10000_character_checkpoint_name_is_shortened(http, upload):
    name = "b" * 10_000
    refused(http, "classify", [upload, name, 3, "plain"], "unknown checkpoint 'bbbb")
    assert "(10000 characters)" in call(http, "classify", [upload, name, 3, "plain"])[1]
    refused(http, "latency", _with(LATENCY, 0, name), "not in the list of choices")  # Gradio's own check, cut
    works(http, "classify", upload)


MARKUP = '<a href="//evil.example">log in</a><form><input></form>'  # short: quoted whole


def test_a_users_markup_in_an_error_is_text_not_html(http, client, upload):
    """Gradio renders an error's message as HTML in the page's toast: a checkpoint named with a link and a form
    showed a live link and a form. The message keeps the value, with no ``<`` that opens a tag."""
    for kind, got in [
        call(http, "classify", [upload, MARKUP, 3, "plain"]),
        call(http, "latency", _with(LATENCY, 0, MARKUP)),
    ]:
        text = assert_visitor_line(got)
        assert kind == "error" and "&lt;a href=" in text and "&lt;form" in text, text
        assert not re.search(r"<[A-Za-z/!?]", text), text
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(PHOTO), "<b>x</b><!-- -->", 3, "plain", api_name="/classify")
    assert "&lt;b>x&lt;/b>&lt;!--" in str(caught.value)
    assert visitor_text("choose batch <= 4, a < b") == "choose batch <= 4, a < b"
    works(http, "classify", upload)


def test_an_offline_checkpoint_error_names_no_server_path(http, upload, hf_cache):
    """The checkpoint is not in the (offline) cache: the message says what to run, not where the cache is."""
    kind, got = call(http, "classify", [upload, "tf_efficientnetv2_m.in1k", 3, "plain"])
    assert kind == "error"
    text = assert_visitor_line(got)
    assert "python -m effnetv2 download" in text and str(hf_cache) not in text
    works(http, "classify", upload)


def test_the_page_config_names_no_hf_cache(http, hf_cache):
    assert str(hf_cache) not in http.get("config").text


def test_visitor_text_keeps_routes_and_urls_and_hides_paths():
    line = visitor_text(
        "x is not in the Hugging Face cache (/srv/hf/hub) and the Hub (https://hf.example/api) is unreachable; "
        "POST /gradio_api/upload to /classify\nTraceback (most recent call last)"
    )
    assert line == (
        "x is not in the Hugging Face cache (…/hub) and the Hub (https://hf.example/api) is unreachable; "
        "POST /gradio_api/upload to /classify"
    )
    assert without_paths("weights in C:\\Users\\me\\m.safetensors, ~/w/m.safetensors") == (
        "weights in …/m.safetensors, …/m.safetensors"
    )
    assert shorten("a" * 10_000).endswith("… (10000 characters)") and len(shorten("a" * 10_000)) < 90


def test_the_classify_banner_names_no_server_path(monkeypatch, hf_cache):
    """Whatever the engine's notice says about the cache (written for the CLI's user), the banner every visitor
    sees in /config keeps the file's name and drops the folder."""
    from effnetv2.backend import classify
    from effnetv2.checkpoints import resolve_checkpoint

    notice = f"weights for b0 are corrupt in the Hugging Face cache ({hf_cache}/models--timm/model.safetensors)"
    monkeypatch.setattr(classify, "default_or_embedded", lambda name: (resolve_checkpoint(name), notice))
    banner = classify.startup().notice
    assert str(hf_cache) not in banner and "(…/model.safetensors)" in banner


def test_the_body_bounds_come_from_the_environment_of_the_launched_app():
    """``python app.py`` as deployed, with EFFNETV2_MAX_REQUEST_BYTES and EFFNETV2_BODY_TIMEOUT_S set: not patched
    constants. A call whose body trickles (announced, never finished) is answered 408 after the body timeout and
    its connection closed; before, it held the connection for as long as the client liked."""
    env = {**shipped_env(), "EFFNETV2_MAX_REQUEST_BYTES": "4096", "EFFNETV2_BODY_TIMEOUT_S": "2"}
    with app_process(env) as app, httpx.Client(base_url=app.url, timeout=60) as http:
        start = time.monotonic()
        line, closed = stalled_call(app.url)
        assert " 408 " in f"{line} " and closed and time.monotonic() - start < 15, (line, closed)
        r = http.post("gradio_api/call/latency", json={"data": _with(LATENCY, 1, "M" * 5000)})
        assert r.status_code == 413
        assert "over the limit of 4 kB (EFFNETV2_MAX_REQUEST_BYTES)" in assert_visitor_line(r.json()["error"])
        kind, got = call(http, "latency", _with(LATENCY, 1, "M" * 3000))  # under the bound: the blocks check
        assert kind == "error" and "must be 6 letters" in assert_visitor_line(got)
