"""The app's logic without a server: walkthrough text, diagrams, charts, bounds, presets and tables."""

import re

import pytest

from effnetv2 import bounds
from effnetv2.backend import charts, classify, diagrams, lab, limits, strings, torch_thread, walkthrough
from effnetv2.backend import walkthrough_text as text
from effnetv2.cache import LRUCache
from effnetv2.config import Blocks
from effnetv2.errors import BlocksError, BoundsError
from effnetv2.profiling import Context, Latency, Spread, StageLatency


# ------------------------------------------------------------------------------------------- walkthrough
def test_both_languages_have_every_section_and_ui_string():
    for lang in strings.LANGUAGES:
        texts = text.sections(lang)
        assert list(texts) == list(text.SECTIONS)
        assert all(len(t) > 40 for t in texts.values())
    trans = strings.i18n_translations()
    assert set(trans["en"]) == set(trans["zh-CN"]) and trans["zh"] == trans["zh-CN"]
    assert all(trans["zh-CN"][k] for k in trans["zh-CN"])


def test_chinese_text_is_chinese_and_english_is_not():
    zh = text.section("problem_depthwise", "zh-CN")
    en = text.section("problem_depthwise", "en")
    assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en)


def test_numbers_in_both_languages_agree():
    """Translations must not drift: every number of a section appears in both languages."""
    for key in text.SECTIONS:
        # "Problem 3" is "问题三" in Chinese: headings are not data
        texts = {lang: re.sub(r"Problem \d", "", text.section(key, lang)) for lang in strings.LANGUAGES}
        nums = {lang: set(re.findall(r"\d+(?:\.\d+)?", t)) for lang, t in texts.items()}
        assert nums["en"] <= nums["zh-CN"], (key, nums["en"] - nums["zh-CN"])


def test_the_three_problems_are_named_in_both_languages():
    en = " ".join(text.sections("en").values()).lower()
    assert "large images" in en and "depthwise" in en and "scaling every stage" in en
    zh = " ".join(text.sections("zh-CN").values())
    assert "问题一" in zh and "问题二" in zh and "问题三" in zh


def _rendered_text(markdown: str) -> str:
    """What a reader sees of ``markdown`` rendered by a real CommonMark parser (markdown-it-py, which Gradio
    uses): the HTML without its tags and without code spans, where a ``*`` may be literal."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(markdown)
    return re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "", html, flags=re.S))


@pytest.mark.parametrize("lang", list(strings.LANGUAGES))
@pytest.mark.parametrize("key", text.SECTIONS)
def test_every_walkthrough_section_renders_its_emphasis(key, lang):
    """No literal ``**``, ``__`` or ``*`` left over: CommonMark does not close ``**在这里测量：**`` (full-width
    punctuation before the closing marker, a letter after it), which showed its asterisks on the page."""
    shown = _rendered_text(text.section(key, lang))
    assert "**" not in shown and "__" not in shown and "*" not in shown, shown


def test_the_renderer_check_catches_a_chinese_bold_label_that_does_not_close():
    """The check above can fail: the form this text used before shows its asterisks."""
    assert "**" in _rendered_text("**在这里测量：**下面的按钮")
    assert "**" not in _rendered_text("<strong>在这里测量：</strong>下面的按钮")


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh;q=0.5,en;q=0.3", "zh-CN"),
        ("de,en;q=0.5", "en"),
        ("en;q=0.2,zh;q=0.9", "zh-CN"),
        ("zh;q=0", "en"),
    ],
)
def test_language_from_accept_language(header, lang):
    assert strings.language_from_header(header) == lang


def test_language_names_and_unknown_tags_normalise():
    assert strings.normalize_language("简体中文") == "zh-CN"
    assert strings.normalize_language("zh_Hans") == "zh-CN"
    assert strings.normalize_language("xx") == "en"
    assert strings.ui_text("tab_latency", "zh-CN") == "延迟"


def test_table3_rows_hold_the_papers_numbers_beside_counts():
    rows = walkthrough.table3("en")
    assert [r[1] for r in rows] == ["MMMMMMM", "FFFMMMM", "FFFFFMM", "FFFFFFF"]
    assert rows[0][2:7] == ["19.3M", "4.5B", "82.8%", 262, 155]
    assert rows[3][2:7] == ["132.0M", "34.4B", "81.7%", 254, 206]
    # counted by effnetv2.stats: docs/models.md reproduces these (19.3M / 4.4 GMACs and 132.1M / 36.0 GMACs)
    assert rows[0][7:9] == ["19.3M", "4.4"] and rows[3][7:9] == ["132.1M", "36.0"]
    assert rows[0][9] == ""
    measured = walkthrough.table3("zh-CN", {"FFFMMMM": "12.3 [11.8-12.9]"})
    assert measured[1][9] == "12.3 [11.8-12.9]" and measured[0][9] == "" and measured[1][0] == "Fused 阶段 1-3"
    assert len(walkthrough.table3_headers("en")) == len(rows[0])


# ------------------------------------------------------------------------------------------- diagrams
def test_mbconv_diagram_follows_the_stage():
    b = diagrams.stage_block("efficientnetv2_s", 4)  # MBConv4 k3 SE0.25, 128 ch, repeated block
    kinds = [layer.kind for layer in b.layers]
    assert kinds == ["input", "conv", "depthwise", "se", "project", "add", "output"]
    assert b.residual and b.layers[1].out_ch == 512 and "→32" in b.layers[3].label  # SE width = 128 * 0.25
    first = diagrams.stage_block("efficientnetv2_s", 4, first=True)
    assert (
        first.stride == 2 and first.in_ch == 64 and not first.residual and "add" not in [x.kind for x in first.layers]
    )


def test_fused_diagram_has_no_depthwise_and_no_se():
    b = diagrams.stage_block("efficientnetv2_s", 2)
    assert [x.kind for x in b.layers] == ["input", "conv", "project", "add", "output"]
    conv = diagrams.stage_block("efficientnetv2_s", 1)  # expansion 1: a single Conv3x3
    assert [x.kind for x in conv.layers] == ["input", "conv", "add", "output"]
    switched = diagrams.stage_block("efficientnetv2_s", 2, "MMMMMM")  # Fused -> MBConv gains depthwise and SE
    assert "depthwise" in [x.kind for x in switched.layers] and "se" in [x.kind for x in switched.layers]


def test_diagram_figure_and_bad_stage():
    fig = diagrams.stage_diagram("efficientnet_b0", 1)
    texts = [a.text for a in fig.layout.annotations]
    assert any("Depthwise Conv3x3" in t for t in texts) and not any("expand" in t for t in texts)
    with pytest.raises(ValueError, match="stages 1-6"):
        diagrams.stage_block("efficientnetv2_s", 7)
    with pytest.raises(BlocksError):
        diagrams.stage_block("efficientnetv2_s", 1, Blocks.parse("efficientnetv2_s", "FFX"))


# ------------------------------------------------------------------------------------------- charts
def _context(model="efficientnet_b0", image_size=224, batch=1):
    return Context(model, "MMMMMMM", "cpu", "fp32", 2, False, batch, image_size, "perf_counter")


def _result(medians, macs):
    stages = [
        StageLatency(f"s{i}", m, m * 0.5, m * 2.0, 1, c, m * 0.9, m * 1.2)
        for i, (m, c) in enumerate(zip(medians, macs, strict=True))
    ]
    total = sum(medians) * 1.05
    return Latency(_context(), 5, 2, Spread(total, total, total), stages)


def test_latency_figure_error_bars_are_the_medians_intervals():
    r = _result([2.0, 6.0, 2.0], [100, 100, 200])
    bar = charts.latency_figure(r).data[0]
    assert list(bar.y) == [2.0, 6.0, 2.0]
    # the 95% interval of the median (0.9-1.2x here), not the spread of single runs (0.5-2x)
    assert bar.error_y.array[1] == pytest.approx(1.2) and bar.error_y.arrayminus[1] == pytest.approx(0.6)
    assert "device cpu" in charts.describe(r) and "threads 2" in charts.describe(r)


def test_shares_compare_macs_and_time():
    r = _result([2.0, 6.0, 2.0], [100, 100, 200])
    assert charts.shares(r) == [("s0", 0.25, 0.2), ("s1", 0.25, 0.6), ("s2", 0.5, 0.2)]
    fig = charts.share_figure(r, "zh-CN")
    assert [t.name for t in fig.data] == ["乘加占比", "耗时占比"]
    assert list(fig.data[1].y) == pytest.approx([20, 60, 20])


def test_throughput_and_scaling_figures():
    from effnetv2.profiling import TrainingComparison, TrainingPoint

    pts = tuple(TrainingPoint.of("m", s, 4, Spread(s / 10, s / 12, s / 8, s / 11, s / 9)) for s in (256, 128))
    fig = charts.throughput_figure(TrainingComparison(pts, 4, 1, "too noisy"), "zh-CN")
    line = fig.data[0]
    assert list(line.x) == [128, 256]  # sorted by size
    assert list(line.error_y.array) == pytest.approx([p.high_images_per_s - p.images_per_s for p in pts[::-1]])
    assert list(line.error_y.arrayminus) == pytest.approx([p.images_per_s - p.low_images_per_s for p in pts[::-1]])
    assert "波动太大" in fig.layout.title.text  # the verdict is on the chart, in the reader's language
    layers = charts.layers_per_stage(["efficientnet_b0", "efficientnet_b4", "efficientnetv2_s"])
    assert layers["efficientnet_b0"] == [1, 2, 2, 3, 3, 4, 1] and layers["efficientnet_b4"] == [2, 4, 4, 6, 6, 8, 2]
    assert layers["efficientnetv2_s"] == [2, 4, 4, 6, 9, 15]


def test_chart_titles_and_axes_are_in_the_readers_language():
    """No English left on a Chinese chart's title or axes (model and stage names aside)."""
    r = _result([2.0, 6.0, 2.0], [100, 100, 200])
    latency = charts.latency_figure(r, "zh-CN")
    assert "端到端" in latency.layout.title.text and "end-to-end" not in latency.layout.title.text
    assert charts.share_figure(r, "zh-CN").layout.yaxis.title.text == "占比（%）"
    scaling = charts.scaling_figure(["efficientnet_b0", "efficientnetv2_s"], "zh-CN").layout.title.text
    assert "虚线" in scaling and "dotted" not in scaling
    assert "dotted" in charts.scaling_figure(["efficientnet_b0"], "en").layout.title.text


def test_totals_figure_draws_intervals_and_the_given_labels():
    fig = charts.totals_figure(["a", "b"], [10.0, 15.0], "t", "x", intervals=[(9.0, 12.0), (14.0, 15.5)],
                               text=["baseline", "can't tell"])  # fmt: skip
    bar = fig.data[0]
    assert list(bar.text) == ["baseline", "can't tell"]
    assert list(bar.error_y.array) == [2.0, 0.5] and list(bar.error_y.arrayminus) == [1.0, 1.0]


# ------------------------------------------------------------------------------------------- bounds, presets
@pytest.mark.parametrize("bad", [0, 11, 2.5, "x", None, float("nan"), float("inf"), True, "1e9"])
def test_topk_bounds(bad):
    with pytest.raises(BoundsError, match="top-k"):
        limits.TOPK.check(bad)


def test_bounds_accept_whole_numbers_in_any_form():
    assert limits.TOPK.check(3.0) == 3 and limits.TOPK.check("7") == 7
    assert limits.IMAGE_SIZE.check(limits.IMAGE_SIZE.high) == limits.IMAGE_SIZE.high
    with pytest.raises(BoundsError, match="image size must be from"):
        limits.IMAGE_SIZE.check(limits.IMAGE_SIZE.high + 1)


def test_the_app_only_narrows_the_engines_bounds():
    for name in ("RUNS", "BATCH", "IMAGE_SIZE", "TRAIN_BATCH"):
        app, engine = getattr(limits, name), getattr(bounds, name)
        assert engine.low <= app.low <= app.high <= engine.high, name
    with pytest.raises(ValueError, match="wider"):
        bounds.BATCH.narrowed(high=bounds.BATCH.high + 1)


def test_blocks_are_parsed_once_with_the_published_rule():
    assert Blocks.parse("efficientnetv2_s", "") == "FFFMMM" and Blocks.parse("efficientnetv2_s", None).published
    b = Blocks.parse("efficientnetv2_s", " mmmmmm ")
    assert b == "MMMMMM" and b.model == "efficientnetv2_s" and not b.published
    assert Blocks.parse("efficientnetv2_s", b) is b
    with pytest.raises(BlocksError, match="6 letters"):
        Blocks.parse("efficientnetv2_s", "FFX")


def test_presets_give_the_papers_table3_variants():
    def preset(name, model):
        blocks = lab.apply_preset(name, model)
        return blocks.model, str(blocks)

    assert preset("published", "efficientnetv2_s") == ("efficientnetv2_s", "FFFMMM")
    assert preset("All MBConv", "efficientnetv2_m") == ("efficientnetv2_m", "MMMMMMM")
    assert preset("all_fused", "efficientnetv2_b0") == ("efficientnetv2_b0", "FFFFFF")
    assert preset("b4_fused_1_5", "efficientnetv2_s") == ("efficientnet_b4", "FFFFFMM")
    with pytest.raises(BoundsError, match="unknown preset"):
        lab.apply_preset("nope", "efficientnetv2_s")


def test_stage_toggles_round_trip():
    assert lab.blocks_from_fused("efficientnetv2_s", ["stage1", "stage3"]) == "FMFMMM"
    assert lab.fused_from_blocks(Blocks.parse("efficientnetv2_s", "FMFMMM")) == ["stage1", "stage3"]
    assert lab.fused_from_blocks(Blocks.parse("efficientnetv2_s", None)) == ["stage1", "stage2", "stage3"]
    with pytest.raises(BoundsError, match="stage7"):
        lab.blocks_from_fused("efficientnetv2_s", ["stage7"])


def test_stage_rows_like_table4():
    rows = lab.stage_rows(Blocks.parse("efficientnetv2_s", None), 384)
    assert [r[0] for r in rows] == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    assert rows[4][1:5] == ["MBConv4, k3x3, SE0.25", 2, 128, 6]
    assert sum(r[5] for r in rows) == 21_458_488  # the official V2-S parameter count
    with pytest.raises(BoundsError):
        lab.stage_rows(Blocks.parse("efficientnetv2_s", None), 10_000)


def test_lru_cache_is_bounded_and_creates_once():
    cache = LRUCache(2)
    calls = []
    for key in ("a", "b", "a", "c", "a"):
        cache.get(key, lambda k=key: calls.append(k) or k.upper())
    assert calls == ["a", "b", "c"] and cache.keys() == ["c", "a"]


def test_fast_path_keeps_reduced_precision_only_where_it_is_accurate(hf_cache, monkeypatch):
    """The gate, on the sample photos: the fastest precision of this CPU when it is accurate, else fp32.

    Without native bf16 the fast path must be exactly fp32 on oneDNN's kernels; with it, the chosen dtype must
    be the reduced one precisely when that candidate's error on the photos is within the 2% bar."""
    from effnetv2 import load_pretrained, optimize, samples
    from effnetv2.optimize import fastest_dtype, measure_logit_error, optimize_for_inference

    pre = load_pretrained("tf_efficientnetv2_b0.in1k", device="cpu")
    photos = samples.photos(pre.transform)
    model, dtype = classify._optimized(pre, "fast")
    best = fastest_dtype("cpu")
    if best == "fp32":
        assert dtype == "fp32"
        assert measure_logit_error(pre.model, model, photos) < 1e-4
    else:
        reduced = optimize_for_inference(pre.model, dtype=best, backend="eager")  # the eager candidate the gate judges
        candidate = measure_logit_error(pre.model, reduced, photos)
        assert dtype == (best if candidate <= optimize.ACCURATE_LOGIT_ERROR else "fp32")
    assert measure_logit_error(pre.model, model, photos) <= optimize.ACCURATE_LOGIT_ERROR
    monkeypatch.setattr(optimize, "ACCURATE_LOGIT_ERROR", 0.0)  # nothing in reduced precision is that exact
    assert classify._optimized(pre, "fast")[1] == "fp32"


@pytest.mark.parametrize(("lang", "phrase"), [("en", "The rules of a switch"), ("zh-CN", "切换规则")])
def test_walkthrough_states_the_rules_of_a_switch(lang, phrase):
    section = text.section("blocks", lang)
    assert phrase in section and "SE 0.25" in section


def test_torch_work_runs_on_one_long_lived_thread():
    import contextvars
    import threading
    from concurrent.futures import ThreadPoolExecutor

    var = contextvars.ContextVar("var", default="unset")

    @torch_thread.on_torch_thread
    def where(tag: str) -> tuple[int, str, str]:
        return threading.get_ident(), var.get(), tag

    def call(i: int):
        var.set(f"request {i}")
        return where(str(i))

    with ThreadPoolExecutor(4) as pool:  # requests arrive on many threads, like a web server's workers
        results = list(pool.map(call, range(8)))
    assert len({ident for ident, _, _ in results}) == 1 and results[0][0] != threading.get_ident()
    assert [(v, t) for _, v, t in results] == [(f"request {i}", str(i)) for i in range(8)]  # context carried

    @torch_thread.on_torch_thread
    def outer() -> int:
        return where("nested")[0]  # a nested call runs inline instead of waiting on itself

    assert outer() == results[0][0]

    @torch_thread.on_torch_thread
    def fails():
        raise BoundsError("runs must be from 1 to 30, got 99")

    with pytest.raises(BoundsError, match="got 99"):
        fails()


def test_async_handlers_await_the_torch_thread_and_leave_the_event_loop_free():
    import asyncio
    import contextvars
    import threading

    var = contextvars.ContextVar("var", default="unset")
    release = threading.Event()

    def work(tag: str) -> tuple[str, str, str]:
        release.wait(10)  # blocks the torch thread until the event loop has shown it is still serving
        return threading.current_thread().name, var.get(), tag

    def fails():
        raise BoundsError("batch must be from 1 to 16, got 99")

    async def main():
        var.set("request 1")
        pending = asyncio.ensure_future(torch_thread.run_on_torch_thread(work, "a"))
        await asyncio.sleep(0.05)  # the loop runs other coroutines meanwhile
        assert not pending.done()
        release.set()
        where, value, tag = await pending
        with pytest.raises(BoundsError, match="got 99"):
            await torch_thread.run_on_torch_thread(fails)
        return where, value, tag

    where, value, tag = asyncio.run(main())
    assert where.startswith(torch_thread.TORCH_THREAD_NAME) and (value, tag) == ("request 1", "a")


def test_bench_app_reads_the_precision_the_app_served():
    """bench_app compares the app's request with a bare forward only when both ran the same precision."""
    import importlib.util
    from pathlib import Path

    from effnetv2.inference import Prediction

    path = Path(__file__).resolve().parents[1] / "bench" / "bench_app.py"
    spec = importlib.util.spec_from_file_location("bench_app", path)
    bench_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_app)
    for dtype in ("fp32", "bf16", "fp16"):
        r = classify.ClassifyResult([Prediction(1, "x", 0.5)], 12.5, "ckpt", "fast", dtype, "cpu")
        assert bench_app._server_dtype(r.timing_markdown()) == dtype
        assert bench_app._server_ms(r.timing_markdown()) == 12.5
        assert "served by plain PyTorch (eager)" in r.timing_markdown()  # which backend served it
    with pytest.raises(ValueError, match="names no precision"):
        bench_app._server_dtype("**3.0 ms** somewhere")


# ------------------------------------------------------------------------------------------- the Lab's comparison
def test_lab_defaults_compare_the_published_blocks_with_all_mbconv():
    """The first click with the defaults compares something: the published FFFMMM against all-MBConv, with a
    verdict per bar (a percentage only where the verdict found a difference) and the controls hatched."""
    r = lab.compare(Blocks.parse(lab.DEFAULT_MODEL, None), 64, 1, 3, False, "1")
    assert (r.baseline.blocks, r.variants[0].blocks) == ("MMMMMM", "FFFMMM")
    per_stage, totals, train = lab.compare_figures(r, "zh-CN")
    assert train is None
    lat, _ = r.verdicts(0)
    label = totals.data[0].text[1]
    if lat.verdict in ("faster", "slower"):
        assert label == f"{100 * (lat.ratio.value - 1):+.0f}%"
    else:
        assert label == ("无法判断" if lat.verdict == "can't tell" else "噪声太大")
    assert totals.data[0].text[0] == "基线"
    shapes = list(per_stage.data[0].marker.pattern.shape)
    assert shapes == ["/", "", "", "", "/", "/", "/", "/"]  # stem, stages 4-6 and head are the same in both
    text = lab.summary(r, "zh-CN")
    assert "延迟" in text and "平均负载" in text and "使用 1 个线程" in text
    rows = lab.compare_table(r, "en")
    assert [row[0] for row in rows] == ["baseline MMMMMM", "FFFMMM"] and rows[1][5].startswith("FFFMMM @ 64px")
    assert lab.compare_headers("zh-CN")[0] == "模块"


def test_lab_rounds_refusal_names_the_labs_own_control():
    with pytest.raises(BoundsError, match="rounds must be"):
        lab.compare(Blocks.parse(lab.DEFAULT_MODEL, None), 64, 1, 10_000, False, "1")


def test_walkthrough_measures_the_model_its_text_names():
    """The text says "EfficientNet-B0 (all MBConv)": the measured model is that one, every stage MBConv."""
    from effnetv2.backend import walkthrough
    from effnetv2.backend import walkthrough_text as text
    from effnetv2.config import get_arch

    arch = get_arch(walkthrough.SHARES_MODEL)
    assert arch.name == "efficientnet_b0" and set(arch.default_blocks) == {"M"}
    assert "EfficientNet-B0 (all MBConv)" in text.section("problem_depthwise", "en")


def test_throughput_chart_adapts_to_the_servers_limit_and_says_so(monkeypatch):
    """The button has no size control: where the four sizes do not fit the time limit, the largest go, and the
    chart names them (issue #22: "choose image size <= 176" named a control that page does not have)."""
    from effnetv2.backend import walkthrough
    from effnetv2.errors import TimeLimitError
    from effnetv2.profiling import TrainingComparison, TrainingPoint

    asked = []

    def limited(setups, **kwargs):
        sizes = [size for _, _, size in setups]
        asked.append(sizes)
        if max(sizes) > 160:
            raise TimeLimitError("this training comparison would take about 300 s: choose image size <= 160")
        pts = tuple(TrainingPoint.of("m", s, 4, Spread(s / 10, s / 12, s / 8)) for s in sizes)
        return TrainingComparison(pts, 5, 1, "too noisy")

    monkeypatch.setattr(walkthrough, "compare_training", limited)
    measured = walkthrough.throughput_vs_size()
    assert asked == [[128, 160, 192, 224], [128, 160, 192], [128, 160]]
    assert [p.image_size for p in measured.points] == [128, 160]
    title = charts.throughput_figure(measured, "en", walkthrough.THROUGHPUT_SIZES).layout.title.text
    assert "192, 224 px left out" in title
    assert "left out" not in charts.throughput_figure(measured, "en", (128, 160)).layout.title.text
