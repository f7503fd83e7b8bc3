"""The whole page in one language: the switch, the browser's language, and every text the server makes.

The page is built (not served): its translated blocks are found, and what the switch sends for each language is
checked here; tests/test_browser.py checks the same in a real zh-CN browser.
"""

import importlib
import re

import pytest

from effnetv2.backend import classify, strings
from effnetv2.testing.appserver import PHOTO, TEST_CHECKPOINT  # sets GRADIO_TEMP_DIR before gradio is imported

# Gradio reads GRADIO_TEMP_DIR when imported: it (and ui_i18n, which imports it) come after appserver.
gr = importlib.import_module("gradio")
ui_i18n = importlib.import_module("effnetv2.ui_i18n")

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo():
    import app

    return app.build_demo()


@pytest.fixture(scope="module")
def page(demo):
    return ui_i18n.PageText.of(demo)


def _texts(update: dict) -> list[str]:
    texts = [v for k, v in update.items() if k not in ("__type__", "choices") and isinstance(v, str)]
    return texts + [name for name, _ in update.get("choices", [])]


def test_the_switch_reaches_every_kind_of_label_on_the_page(page):
    kinds = {type(b).__name__ for b in page.blocks}
    # tabs, buttons, the title (Markdown), the inference-path options (Radio), the Examples label (Dataset)
    assert {"Tab", "Button", "Markdown", "Radio", "Dataset", "Slider", "Dropdown", "Plot"} <= kinds
    assert len(page.blocks) > 50


@pytest.mark.parametrize("lang", list(strings.LANGUAGES))
def test_every_translated_text_resolves_in_each_language(page, lang):
    """No Gradio marker left (a key this app does not know would leave one); Chinese only in Chinese."""
    for block, update in zip(page.blocks, page.updates(lang), strict=True):
        for text in _texts(update):
            assert "__i18n__" not in text, (block, text)
            assert bool(HAN.search(text)) == (lang == "zh-CN") or text in ("Grad-CAM",), (block, text)


def test_the_title_subtitle_paths_and_examples_switch_to_chinese(demo, page):
    by_id = {b.elem_id: u for b, u in zip(page.blocks, page.updates("zh-CN"), strict=True) if b.elem_id}
    assert by_id["title"]["value"] == "# EffNetV2 探索器"
    assert by_id["subtitle"]["value"] == strings.ui_text("subtitle", "zh-CN")
    radio = next(u for b, u in zip(page.blocks, page.updates("zh-CN"), strict=True) if "choices" in u)
    assert [v for _, v in radio["choices"]] == list(classify.PATHS)  # the values the API takes stay
    assert radio["choices"][2][0] == "原始 PyTorch fp32（eager）"
    datasets = [u for b, u in zip(page.blocks, page.updates("zh-CN"), strict=True) if isinstance(b, gr.Dataset)]
    assert datasets and all(u["label"] == "示例" for u in datasets)


def test_localize_leaves_markers_of_other_apps_to_gradio():
    mine = str(gr.I18n(en={})(strings.i18n_key("title")))
    theirs = '__i18n__{"__type__": "translation_metadata", "key": "common.examples"}'
    assert ui_i18n.localize(f"# {mine} / {theirs}", "zh-CN") == f"# EffNetV2 探索器 / {theirs}"


def test_element_ids_are_unique(demo):
    ids = [b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("elem_id", ["wt-throughput", "wt-shares", "wt-diagram-a", "wt-diagram-b", "wt-scaling"])
def test_walkthrough_charts_have_a_label_of_their_own(demo, elem_id):
    """Not Gradio's default "Plot": a label from the strings, in both languages."""
    plot = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)
    assert isinstance(plot.label, gr.i18n.I18nData)
    key = plot.label.key.removeprefix(strings.I18N_PREFIX)
    assert "Plot" not in strings.ui_text(key) and HAN.search(strings.ui_text(key, "zh-CN"))


# ------------------------------------------------------------------------------------ the visitor's language


@pytest.mark.parametrize(
    ("headers", "lang"),
    [
        (None, "en"),
        ({"accept-language": "zh-CN,zh;q=0.9"}, "zh-CN"),
        ({"accept-language": "en-US", "cookie": f"a=1; {strings.LANGUAGE_COOKIE}=zh-CN"}, "zh-CN"),
        ({"accept-language": "zh-CN", "cookie": f"{strings.LANGUAGE_COOKIE}=en"}, "en"),  # the switch wins
        ({"accept-language": "zh-CN", "cookie": "%%%;;="}, "zh-CN"),  # an unreadable cookie is ignored
    ],
)
def test_the_switchs_cookie_wins_over_the_browsers_language(headers, lang):
    assert strings.request_language(headers) == lang


def test_the_cookie_script_sets_the_cookie_the_server_reads():
    js = ui_i18n.cookie_js(4)
    assert f"'{strings.LANGUAGE_COOKIE}='" in js and "args.slice(0, 4)" in js


# ------------------------------------------------------------------------------------ the Classify tab's texts


def test_the_embedded_notice_translation_says_what_the_engine_says():
    """English comes from the engine (the CLI prints it too); the strings' copy must not drift from it."""
    from effnetv2.checkpoints import DEFAULT_CHECKPOINT, EMBEDDED_CHECKPOINT, resolve_checkpoint
    from effnetv2.hub import embedded_notice

    ckpt = resolve_checkpoint(DEFAULT_CHECKPOINT)
    mine = strings.ui_text("embedded_notice").format(embedded=EMBEDDED_CHECKPOINT, name=ckpt.name, alias=ckpt.alias)
    assert mine == embedded_notice(ckpt)


def test_the_startup_banner_is_in_the_visitors_language(monkeypatch):
    """With the default's weights missing (whatever other tests put in the session's cache), the page falls back
    to the embedded Lite0 and its banner says so in the visitor's language."""
    import dataclasses

    from effnetv2 import hub
    from effnetv2.checkpoints import DEFAULT_CHECKPOINT, EMBEDDED_CHECKPOINT

    real = hub.checkpoint_status

    def default_missing(checkpoint):
        status = real(checkpoint)
        if status.checkpoint.name != DEFAULT_CHECKPOINT:
            return status
        return dataclasses.replace(status, state="download", path=None, note="not in the cache")

    monkeypatch.setattr(hub, "checkpoint_status", default_missing)
    en, zh = classify.startup("en"), classify.startup("zh-CN")
    assert en.checkpoint == zh.checkpoint == EMBEDDED_CHECKPOINT
    assert en.notice and zh.notice
    assert not HAN.search(en.notice) and HAN.search(zh.notice)


def test_the_timing_line_in_chinese_keeps_the_numbers():
    from effnetv2.inference import Prediction

    r = classify.ClassifyResult([Prediction(1, "x", 0.5)], 12.5, "ckpt", "fast", "bf16", "cpu", "eager oneDNN")
    zh = r.timing_markdown("zh-CN")
    assert "12.5 毫秒" in zh and "bf16" in zh and "快速" in zh and "eager oneDNN" in zh


class _Runtime:
    """A stand-in for ``backends.RuntimeModel``: a runtime backend (fp32) with a bf16 eager model inside."""

    def __init__(self, last: str | None):
        self.last_backend, self.inference_dtype = last, "fp32"
        self.eager = type("Eager", (), {"inference_dtype": "bf16"})()


@pytest.mark.parametrize(("last", "dtype"), [("openvino", "fp32"), ("onnxruntime", "fp32"), ("eager", "bf16")])
def test_the_precision_named_is_the_one_that_served(last, dtype):
    """OpenVINO is pinned to fp32: "bf16 (fast), served by OpenVINO" was wrong."""
    from effnetv2.backends import served_dtype

    assert served_dtype(_Runtime(last), "bf16") == dtype


def test_a_plain_model_without_a_precision_attribute_is_the_path_default():
    from effnetv2.backends import served_dtype

    assert served_dtype(object(), "fp32") == "fp32"


def test_the_grad_cam_caption_labels_each_probability_by_path(hf_cache):
    plain = classify.gradcam(str(PHOTO), TEST_CHECKPOINT, "stage6")
    assert "plain fp32" in plain.caption and "predictions show" not in plain.caption

    beside = classify.Shown(0.536, "fast", "bf16")
    r = classify.gradcam(str(PHOTO), TEST_CHECKPOINT, "stage6", shown=lambda label: beside)
    p = r.cam.scores[0]
    assert f"p = {p:.1%} on the plain fp32 model" in r.caption
    assert r.caption.endswith("the predictions show 53.6% (fast, bf16)")
    zh = classify.gradcam(str(PHOTO), TEST_CHECKPOINT, "stage6", lang="zh-CN", shown=lambda label: beside)
    assert "原始 fp32" in zh.caption and "53.6%（快速，bf16）" in zh.caption


def test_the_predictions_payload_gives_the_shown_probability(hf_cache):
    payload = {"label": "a", "confidences": [{"label": "a", "confidence": 0.5}, {"label": "b", "confidence": 0.25}]}
    shown = classify.shown_probability(payload, "b", TEST_CHECKPOINT, "fp32")
    assert shown == classify.Shown(0.25, "fp32", "fp32")
    assert classify.shown_probability(payload, "c", TEST_CHECKPOINT, "fp32") is None
    assert classify.shown_probability(None, "a", TEST_CHECKPOINT, "fp32") is None


def test_the_switch_updates_each_block_once_and_the_server_made_texts(demo):
    """A block with a translated label and server-made text (the checkpoint pickers) is one output, not two."""
    switch = next(fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "switch")
    ids = [b._id for b in switch.outputs]
    assert len(ids) == len(set(ids))
    zh = switch.fn("zh-CN", "efficientnetv2_s", "", 384)
    assert len(zh) == len(switch.outputs)
    pickers = [u for b, u in zip(switch.outputs, zh, strict=True) if "choices" in u and isinstance(b, gr.Dropdown)]
    assert len(pickers) >= 2 and all(any("(内置)" in name for name, _ in u["choices"]) for u in pickers)
    assert all(u.get("label") == "预训练权重" for u in pickers)  # the label kept beside the choices


def test_the_checkpoint_states_are_translated():
    en, zh = dict(classify.checkpoint_choices("en")), dict(classify.checkpoint_choices("zh-CN"))  # label -> name
    assert sorted(en.values()) == sorted(zh.values())
    assert any(label.endswith("(embedded)") for label in en) and any(label.endswith("(内置)") for label in zh)
    assert not any(re.search(r"\((local file|cached|embedded|needs a download|needs its package)\)", label)
                   for label in zh)  # fmt: skip


def test_the_explain_tab_speaks_chinese():
    from effnetv2.backend import explain

    assert explain.score_headers("zh-CN")[2] == "删除曲线面积（越低越忠实）"
    assert explain.score_headers("en") == explain.SCORE_HEADERS
    view = explain.feature_maps(str(PHOTO), "embedded", "stage5", 4, "zh-CN")
    assert "个通道" in view.caption and "channels at" not in view.caption


def test_the_startup_line_names_the_weights_the_fallback_and_the_backends(monkeypatch):
    from effnetv2.checkpoints import DEFAULT_CHECKPOINT, EMBEDDED_CHECKPOINT

    line = classify.startup_line(classify.Startup(EMBEDDED_CHECKPOINT, "notice"))
    assert f"serving {EMBEDDED_CHECKPOINT} (embedded), a fallback: the default {DEFAULT_CHECKPOINT}" in line
    monkeypatch.setenv("EFFNETV2_BACKENDS", "eager,openvino")
    line = classify.startup_line(classify.Startup(DEFAULT_CHECKPOINT, None))
    assert f"serving {DEFAULT_CHECKPOINT} (" in line and "fast-path backends: eager, openvino" in line
    assert "\n" not in line


def test_no_interface_string_is_defined_twice():
    """``UI.update`` of a key that exists silently replaces it (a merge once turned the Lab's "end-to-end
    latency" into "end-to-end"): every key is written once in strings.py."""
    import inspect

    keys = re.findall(r'^\s+"([a-z0-9_ ]+)": \(', inspect.getsource(strings), re.M)
    assert len(keys) == len(set(keys)) == len(strings.UI), sorted(k for k in keys if keys.count(k) > 1)
