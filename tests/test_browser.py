"""The app in a real browser (Debian's chromium driven by playwright), as a person uses it.

Screenshots of each tab go to tests/artifacts/ (and, with README_SCREENSHOTS=1, to docs/screenshots/
for the README).
"""

import os
import re
import shutil

import pytest
from playwright.sync_api import expect, sync_playwright

from effnetv2.testing.appserver import (  # sets GRADIO_TEMP_DIR before gradio is imported
    ARTIFACTS,
    PHOTO,
    ROOT,
    running_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "install Debian's chromium (see .ci/run)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _open(browser, url: str, locale: str = "en-US"):
    pg = browser.new_page(viewport={"width": 1280, "height": 900}, locale=locale)
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url)
    return pg


@pytest.fixture(scope="module")
def page(hf_cache_s, browser):
    with running_app() as url:
        yield _open(browser, url)


def _shot(page, name: str) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("README_SCREENSHOTS") and (ROOT / "docs" / "screenshots" / path.name).exists():
        shutil.copy(path, ROOT / "docs" / "screenshots" / path.name)


def test_classify_shows_top_k_crop_and_grad_cam(page):
    page.locator("input[type=file]").first.set_input_files(str(PHOTO))
    page.get_by_role("button", name="Classify", exact=True).click()
    expect(page.locator("#timing")).to_contain_text("ms", timeout=TIMEOUT_MS)
    # gr.Label renders the top-1 class as its heading and one row per class.
    expect(page.locator("[data-testid=label-output-value]").first).to_be_visible()
    # The Grad-CAM event follows a successful classification: its caption names the stage and class.
    expect(page.get_by_text("Grad-CAM at")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("img").count() >= 3  # input, crop and overlay
    _shot(page, "classify_test_checkpoint")


def test_fresh_machine_classifies_chelsea_on_the_embedded_lite0(browser, tmp_path):
    """Nothing cached, no Hub: the page opens on the embedded Lite0, says so in one line, and a click on
    Classify calls chelsea a cat with a Grad-CAM on her (the README's Classify screenshot)."""
    from effnetv2.testing.appserver import app_process, shipped_env

    empty = tmp_path / "hf"
    empty.mkdir()
    with app_process(env=shipped_env(), cache=empty) as app:
        page = _open(browser, app.url)
        expect(page.locator("#weights-warning")).to_contain_text("embedded EfficientNet-Lite0")
        page.locator("input[type=file]").first.set_input_files(str(PHOTO))
        page.get_by_role("button", name="Classify", exact=True).click()
        expect(page.locator("#timing")).to_contain_text("tf_efficientnet_lite0.embedded", timeout=TIMEOUT_MS)
        top1 = page.locator("[data-testid=label-output-value]").first
        expect(top1).to_contain_text("cat", timeout=TIMEOUT_MS)  # tiger cat / Egyptian cat
        expect(page.get_by_text("Grad-CAM at")).to_be_visible(timeout=TIMEOUT_MS)
        _shot(page, "classify")
        page.close()


def test_latency_tab_draws_the_per_stage_chart(page):
    page.get_by_role("tab", name="Latency").click()
    page.get_by_role("button", name="Measure", exact=True).click()
    expect(page.locator("#latency-facts")).to_contain_text("threads", timeout=TIMEOUT_MS)
    expect(page.locator("#latency-plot .js-plotly-plot").first).to_be_visible()
    _shot(page, "latency")


def test_lab_preset_then_compare(page):
    page.get_by_role("tab", name="Fused vs MBConv lab").click()
    dropdown = page.get_by_label("Preset")
    dropdown.click()
    page.get_by_role("option", name="All MBConv").click()
    expect(page.locator("#lab-blocks textarea, #lab-blocks input").first).to_have_value("MMMMMM")
    page.get_by_role("button", name="Compare with the baseline").click()
    expect(page.locator("#lab-plot .js-plotly-plot").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#lab-summary")).to_contain_text("MMMMMM")
    _shot(page, "lab_aa")


def test_table3_measured_columns_fit_the_screen(page):
    """Table 3's last columns (this machine's numbers) used to sit off-screen to the right at 1280 px."""
    page.get_by_role("tab", name="Walkthrough").click()
    headers = page.locator("#wt-table3-data th")
    expect(headers.last).to_be_visible()
    box = headers.last.bounding_box()
    assert box and box["x"] + box["width"] <= page.viewport_size["width"], box


def test_the_console_logs_nothing_of_ours(browser):
    """ "Method not implemented." is logged by Gradio's own client (a stand-in EventSource whose ``close`` warns,
    once per finished event, in its bundled /assets/index-*.js): not ours. Anything else is."""
    with running_app() as url:
        pg = _open(browser, url)
        logged = []
        pg.on("console", lambda m: logged.append(m) if m.type in ("warning", "error") else None)
        pg.on("pageerror", lambda e: logged.append(e))
        pg.locator("input[type=file]").first.set_input_files(str(PHOTO))
        pg.get_by_role("button", name="Classify", exact=True).click()
        expect(pg.get_by_text("Grad-CAM at")).to_be_visible(timeout=TIMEOUT_MS)
        for tab in ("Latency", "Fused vs MBConv lab", "Walkthrough", "Explain"):
            pg.get_by_role("tab", name=tab).click()
        pg.wait_for_timeout(1000)
        gradios = [m for m in logged if getattr(m, "text", "") == "Method not implemented."]
        assert all("/assets/index-" in m.location["url"] for m in gradios)
        assert [str(getattr(m, "text", m)) for m in logged if m not in gradios] == []
        pg.close()


def test_walkthrough_switches_to_simplified_chinese(page):
    page.get_by_role("tab", name="Walkthrough").click()
    intro = page.locator("#wt-intro")
    expect(intro).to_be_visible()
    expect(intro).to_contain_text("smaller models and faster training")
    page.get_by_label("简体中文").check()
    expect(intro).to_contain_text("更小的模型，更快的训练")  # the title, in Simplified Chinese
    expect(intro).not_to_contain_text("smaller models and faster training")
    # The switch changes the whole page, not only the walkthrough: the title, the tabs, other tabs' labels.
    expect(page.locator("#title")).to_contain_text("EffNetV2 探索器")
    expect(page.get_by_role("tab", name="延迟")).to_be_visible()
    expect(page.get_by_role("button", name="在本机上测量四个 B4 变体")).to_be_visible()
    _shot(page, "walkthrough_zh")
    # The switch's cookie reaches the text the server makes: the timing line of the next classification.
    page.get_by_role("tab", name="分类").click()
    page.get_by_role("button", name="分类", exact=True).click()
    expect(page.locator("#timing")).to_contain_text("毫秒", timeout=TIMEOUT_MS)


def test_every_measuring_button_works_on_its_first_click_with_its_defaults(browser, hf_cache_s):
    """A fresh page, no control touched: Latency's Measure, the Lab's Compare and the walkthrough's three
    measurements each give a result (a verdict with its interval in the Lab) and no error toast."""
    with running_app() as url:
        page = _open(browser, url)
        errors = page.locator(".toast-body.error")
        page.get_by_role("tab", name="Latency").click()
        page.get_by_role("button", name="Measure", exact=True).click()
        expect(page.locator("#latency-facts")).to_contain_text("load average", timeout=TIMEOUT_MS)
        page.get_by_role("tab", name="Fused vs MBConv lab").click()
        page.get_by_role("button", name="Compare with the baseline").click()
        verdicts = page.locator("#lab-verdicts")
        expect(verdicts).to_contain_text("Latency: FFFMMM @ 224px", timeout=TIMEOUT_MS)
        expect(verdicts).to_contain_text("Training: FFFMMM @ 224px", timeout=TIMEOUT_MS)
        expect(page.locator("#lab-summary")).to_contain_text("baseline MMMMMM")
        text = verdicts.inner_text()
        assert "95% interval" in text or "can't tell" in text or "too noisy" in text, text
        _shot(page, "lab")
        page.get_by_role("tab", name="Walkthrough").click()
        for name, output in (
            ("Measure training throughput vs image size", "#wt-throughput .js-plotly-plot"),
            ("Measure EfficientNet-B0 per stage", "#wt-shares .js-plotly-plot"),
        ):
            page.get_by_role("button", name=name).click()
            expect(page.locator(output).first).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Measure the four B4 variants on this machine").click()
        expect(page.locator("#wt-table3-data")).to_contain_text("[", timeout=TIMEOUT_MS)  # "12.3 [11.8-12.9]" cells
        assert errors.count() == 0, errors.all_inner_texts()
        page.close()


def test_a_chinese_browser_gets_the_whole_page_in_chinese(browser, tmp_path):
    """A zh-CN browser on a fresh machine (the embedded Lite0): title, subtitle, banner, the inference-path
    options, the Examples label, the timing line and the Grad-CAM caption in Chinese; the switch then turns
    the same page back to English (the README's Chinese screenshot)."""
    from effnetv2.testing.appserver import app_process, shipped_env

    empty = tmp_path / "hf"
    empty.mkdir()
    with app_process(env=shipped_env(), cache=empty) as app:
        log = app.log.read_text(errors="replace")  # one start-up line: the weights that serve, and why
        assert "serving tf_efficientnet_lite0.embedded (embedded), a fallback: the default" in log, log[-2000:]
        page = _open(browser, app.url, locale="zh-CN")
        expect(page.locator("#title")).to_contain_text("EffNetV2 探索器")
        expect(page.locator("#subtitle")).to_contain_text("看看 EfficientNetV2 看到了什么")
        expect(page.locator("#weights-warning")).to_contain_text("当前显示内置的 EfficientNet-Lite0")
        expect(page.get_by_label("快速：折叠 BatchNorm、channels_last，硬件支持时用 bf16/fp16")).to_be_visible()
        expect(page.get_by_label("原始 PyTorch fp32（eager）")).to_be_visible()
        expect(page.get_by_text("示例", exact=True).first).to_be_visible()
        expect(page.get_by_text("Examples", exact=True)).to_have_count(0)
        page.locator("input[type=file]").first.set_input_files(str(PHOTO))
        page.get_by_role("button", name="分类", exact=True).click()
        expect(page.locator("#timing")).to_contain_text("毫秒", timeout=TIMEOUT_MS)
        expect(page.locator("#timing")).to_contain_text("tf_efficientnet_lite0.embedded")
        expect(page.get_by_text("的 Grad-CAM：")).to_be_visible(timeout=TIMEOUT_MS)
        _shot(page, "classify_zh")
        page.get_by_role("tab", name="论文导读").click()
        page.get_by_label("English").check()
        expect(page.locator("#title")).to_contain_text("EffNetV2 Explorer")
        expect(page.locator("#weights-warning")).to_contain_text("Showing the embedded EfficientNet-Lite0")
        expect(page.get_by_role("tab", name="Classify")).to_be_visible()
        page.close()


def _field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _made_link(page, tab: str) -> str:
    """Click the tab's link button; the link it writes (an absolute URL of this page)."""
    page.locator(f"#{tab}-link").locator("xpath=../..").get_by_role("button").first.click()
    expect(_field(page, f"{tab}-link")).to_have_value(re.compile(r"^http.*\?tab="), timeout=TIMEOUT_MS)
    return _field(page, f"{tab}-link").input_value()


def _classified(page) -> tuple[str, str]:
    """Click Classify; the top-1 class and the Grad-CAM caption that follows."""
    page.get_by_role("button", name="Classify", exact=True).click()
    expect(page.locator("#timing")).to_contain_text("ms", timeout=TIMEOUT_MS)
    caption = page.get_by_text("Grad-CAM at")
    expect(caption).to_be_visible(timeout=TIMEOUT_MS)
    return page.locator("[data-testid=label-output-value]").first.inner_text(), caption.inner_text()


def test_a_classify_link_reopens_the_same_photo_and_controls_with_the_same_result(browser, hf_cache):
    """The photo is uploaded (chelsea.jpg's bytes: a sample, so it travels); checkpoint, stage and top-k are
    chosen on the page; the link opens a fresh page with the same controls, and Classify answers the same."""
    with running_app() as url:
        first = _open(browser, url)
        first.locator("input[type=file]").first.set_input_files(str(PHOTO))
        first.get_by_label("Checkpoint").first.click()
        first.get_by_role("option", name="tf_efficientnet_lite0.embedded (embedded)").click()
        first.get_by_label("Stage", exact=True).first.click()
        first.get_by_role("option", name="stage5", exact=True).click()
        top1, caption = _classified(first)
        link = _made_link(first, "classify")
        assert "photo=chelsea.jpg" in link and "ckpt=tf_efficientnet_lite0.embedded" in link and "stage=stage5" in link
        first.close()

        again = _open(browser, link)
        expect(again.get_by_label("Checkpoint").first).to_have_value(
            "tf_efficientnet_lite0.embedded (embedded)", timeout=TIMEOUT_MS
        )
        expect(again.get_by_label("Stage", exact=True).first).to_have_value("stage5", timeout=TIMEOUT_MS)
        expect(again.locator("img").first).to_be_visible(timeout=TIMEOUT_MS)  # the photo is back
        assert _classified(again) == (top1, caption)
        assert "stage5" in caption
        overlay = again.locator("img[alt*='Grad-CAM map of'][alt*='strongest in the']")  # its alt text
        expect(overlay).to_have_count(1, timeout=TIMEOUT_MS)
        again.close()


def test_a_lab_link_opens_its_tab_model_blocks_and_size_in_its_language(browser, hf_cache):
    with running_app() as url:
        page = _open(browser, url + "?tab=lab&model=efficientnet_b4&blocks=FFFMMMM&size=192&lang=zh-CN")
        expect(page.get_by_role("tab", name="Fused 与 MBConv 实验室")).to_have_attribute(
            "aria-selected", "true", timeout=TIMEOUT_MS
        )
        expect(_field(page, "lab-blocks")).to_have_value("FFFMMMM", timeout=TIMEOUT_MS)
        expect(page.get_by_label("图像尺寸（像素）").first).to_have_value("192", timeout=TIMEOUT_MS)
        table = page.get_by_role("grid", name="阶段表").first  # B4's stage table (seven stages), not B0's (six)
        expect(table.get_by_role("gridcell", name="stage7", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        link = _made_link(page, "lab")
        assert link.endswith("?tab=lab&model=efficientnet_b4&blocks=FFFMMMM&size=192"), link
        page.close()

        refused = _open(browser, url + "?tab=lab&blocks=QQQ&size=9999")
        expect(refused.get_by_text("The link's values left out")).to_contain_text("blocks='QQQ'", timeout=TIMEOUT_MS)
        expect(_field(refused, "lab-blocks")).to_have_value(
            "FFFMMM", timeout=TIMEOUT_MS
        )  # the page's own defaults stay
        refused.close()


def test_an_explain_link_opens_its_photo_methods_stages_and_class(browser, hf_cache):
    query = ("?tab=explain&ckpt=tf_efficientnet_lite0.embedded&photo=rocket.jpg&methods=gradcam,ig&stages=stage5,head"
             "&class=657")  # fmt: skip
    with running_app() as url:
        page = _open(browser, url + query)
        expect(page.get_by_role("tab", name="Explain")).to_have_attribute("aria-selected", "true", timeout=TIMEOUT_MS)
        expect(page.get_by_role("checkbox", name="gradcam", exact=True)).to_be_checked(timeout=TIMEOUT_MS)
        expect(page.get_by_role("checkbox", name="layercam", exact=True)).not_to_be_checked(timeout=TIMEOUT_MS)
        expect(page.get_by_role("checkbox", name="head", exact=True)).to_be_checked(timeout=TIMEOUT_MS)
        expect(page.get_by_role("checkbox", name="stage7", exact=True)).not_to_be_checked(
            timeout=TIMEOUT_MS
        )  # Lite0's seven stages are offered
        assert _made_link(page, "explain").endswith(query)  # the photo is back: it travels again
        page.close()
