"""The fast path chosen in the background at start (effnetv2.backend.classify.warm_up) while the eager model serves."""

import os
import threading

import httpx
import pytest

from effnetv2 import settings
from effnetv2.backend import classify
from effnetv2.testing.appserver import PHOTO, TEST_CHECKPOINT, app_process, rest_call

WAIT_S = 120


@pytest.fixture
def warm_up_on(monkeypatch):
    monkeypatch.delenv(settings.WARMUP.name, raising=False)  # tests/conftest.py turns it off for the other tests
    classify._OPTIMIZED.clear()
    yield
    classify._OPTIMIZED.clear()


def test_fast_requests_run_eager_while_the_warm_up_chooses_then_on_what_it_chose(hf_cache, warm_up_on, monkeypatch):
    """The warm-up is held inside its choice (holding the fast path's cache key): a fast request meanwhile is not
    blocked, runs the plain model, and says so; once the warm-up is done, fast requests get what it chose
    without choosing again."""
    entered, release, calls = threading.Event(), threading.Event(), []
    choose = classify.choose_fast_path

    def held_choice(*args, **kwargs):
        calls.append(threading.current_thread().name)
        entered.set()
        assert release.wait(WAIT_S)
        return choose(*args, **kwargs)

    monkeypatch.setattr(classify, "choose_fast_path", held_choice)
    thread = classify.warm_up(TEST_CHECKPOINT)
    try:
        assert thread is not None and entered.wait(WAIT_S) and classify.warming_up(TEST_CHECKPOINT)
        assert classify.warm_up(TEST_CHECKPOINT) is None  # one warm-up per checkpoint at a time
        during = classify.classify(PHOTO, TEST_CHECKPOINT, 3, "fast")
        plain = classify.classify(PHOTO, TEST_CHECKPOINT, 3, "plain")
        assert during.warming and during.dtype == "fp32" and during.backend == plain.backend
        assert [p.label for p in during.predictions] == [p.label for p in plain.predictions]
        assert "still being prepared in the background" in during.timing_markdown("en")
        assert "后台准备" in during.timing_markdown("zh-CN") and during.to_dict()["warming"] is True
    finally:
        release.set()
        if thread is not None:
            thread.join(WAIT_S)
    assert thread is not None and not thread.is_alive() and not classify.warming_up(TEST_CHECKPOINT)
    after = classify.classify(PHOTO, TEST_CHECKPOINT, 3, "fast")
    assert not after.warming and "in the background" not in after.timing_markdown("en")
    assert calls == [thread.name]  # chosen once, by the warm-up; the request after it reused the choice


def test_no_warm_up_when_turned_off_or_when_the_weights_would_need_a_download(hf_cache, warm_up_on, monkeypatch):
    assert classify.warm_up("tf_efficientnetv2_m.in1k") is None  # not cached: start-up makes no network call
    monkeypatch.setenv(settings.WARMUP.name, "0")
    assert classify.warm_up(TEST_CHECKPOINT) is None and not classify.warming_up(TEST_CHECKPOINT)


def test_the_app_starts_warming_and_answers_its_first_request(hf_cache):
    env = {k: v for k, v in os.environ.items() if k != settings.WARMUP.name}
    with app_process(env) as app, httpx.Client(base_url=app.url, timeout=WAIT_S) as http:
        assert "chosen in the background now" in app.log_tail(40)
        upload = http.post("gradio_api/upload", files={"files": PHOTO.open("rb")}).json()[0]
        photo = {"path": upload, "meta": {"_type": "gradio.FileData"}}
        _, timing, _ = rest_call(http, "classify", [photo, "embedded", 3, "fast"], timeout=WAIT_S)
        assert "tf_efficientnet_lite0.embedded" in timing  # the app's default here: the embedded Lite0
