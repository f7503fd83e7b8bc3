"""docs/api.md's Python examples, run as written against the launched app (only the URL is the test server's).

If an endpoint's parameters change, the documented calls fail here before a reader's do.
"""

import re
from pathlib import Path

import pytest

from effnetv2.testing.appserver import ROOT, running_app  # sets GRADIO_TEMP_DIR before gradio is imported

pytestmark = [pytest.mark.slow]
DOC = ROOT / "docs" / "api.md"
DOC_URL = "http://127.0.0.1:7860/"


def api_examples(path: Path = DOC) -> list[str]:
    """The ```python blocks of the doc's "### API" section, in order (later ones use names the first defines)."""
    text = path.read_text(encoding="utf-8")
    section = text.split("### API", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_doc_has_the_examples_this_test_runs():
    blocks = api_examples()
    assert len(blocks) == 2 and DOC_URL in blocks[0]
    called = set(re.findall(r'api_name="(/\w+)"', "".join(blocks)))
    assert called == {"/classify", "/gradcam", "/latency", "/compare", "/explain", "/sanity", "/feature_maps"}


def test_the_documented_calls_run_and_return_what_they_say(hf_cache_s, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name assets/chelsea.jpg and assets/rocket.jpg
    namespace: dict = {}
    with running_app() as url:  # the files the calls return live as long as the app (its temp folder)
        for block in api_examples():
            exec(compile(block.replace(DOC_URL, url), str(DOC), "exec"), namespace)
        label, timing = namespace["label"], namespace["timing"]
        assert label["confidences"] and "ms" in timing
        assert Path(namespace["overlay"]).is_file() and Path(namespace["crop"]).is_file()  # /gradcam's images
        assert Path(namespace["grid"]).is_file() and namespace["caption"]  # /feature_maps (names reused in the doc)
        assert "FFFMMMM" in str(namespace["result"]) and namespace["verdicts"]  # the compare call's variant
        assert namespace["verdict"] and namespace["summary"]
