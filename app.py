"""EffNetV2 Explorer, the Gradio app: one function per tab lays out its components and wires its events.

The work is done by ``effnetv2.backend`` (free of Gradio; one module per tab) and the engine under it.
Run ``python app.py`` (http://127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override). On a
Hugging Face Space with ZeroGPU, the torch events run under ``spaces.GPU`` when that package is installed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from effnetv2.backend import uploads

# Before Gradio is imported (it reads GRADIO_TEMP_DIR then and when it builds components): every upload and output
# in a folder of the app's own, which it prunes and removes at shutdown.
os.environ["GRADIO_TEMP_DIR"] = str(uploads.claim_temp_dir())

import gradio as gr

from effnetv2 import settings, ui, ui_i18n, ui_mcp
from effnetv2.backend import alt_text, charts, classify, diagrams, lab, latency, limits, links, strings, walkthrough
from effnetv2.backend import explain as explaining
from effnetv2.backend import walkthrough_text as text
from effnetv2.config import Blocks
from effnetv2.ui import ExplorerBlocks, torch_event, uploaded, user_errors

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted(str(p) for p in (ROOT / "assets").glob("*.jpg"))
TORCH = {"concurrency_id": "torch", "concurrency_limit": 1}
"""Every event that runs torch shares one queue slot, so that timings are not polluted by each other."""
PRIVATE = {"api_visibility": "private"}
"""UI plumbing: not an API endpoint."""
GRADIO_QUEUE_ENV = {
    # After every event Gradio recomputes, in a worker thread, a pandas summary of up to 10000 past events for
    # its monitoring dashboard (off here): GIL-heavy work that delays each result, and grows with the events
    # kept (docs/performance.md). Every 1000 events over the last 1000 keeps the dashboard usable.
    "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000",
    "GRADIO_ANALYTICS_MAX_EVENTS": "1000",
}
"""Settings Gradio's queue reads from the environment when it is made; a value the deployer set wins."""
EN = strings.DEFAULT_LANGUAGE
TABLE3_WIDTHS = ["12%", "9%", "8%", "8%", "7%", "8%", "8%", "10%", "10%", "20%"]
"""Table 3's columns (variant, blocks, five of the paper's, three of this machine's) in one screen's width."""
CSS = """
.banner-warn {border-left: 4px solid #f59e0b; padding-left: 10px;}
.note {font-size: 0.9em; opacity: 0.85;}
"""

_i18n = gr.I18n(**strings.i18n_translations())


def i18n(key: str) -> gr.i18n.I18nData:
    """A translated label (the browser's language; English otherwise)."""
    return _i18n(strings.i18n_key(key))


# ------------------------------------------------------------------------------------------------ Classify


def visitor_language(request: gr.Request | None) -> str:
    """The page's language switch (its cookie), else the browser's; English for a client that says neither."""
    return strings.request_language(request.headers if request is not None else None)


@torch_event
def on_classify(image, checkpoint: str, topk: float, path: str, request: gr.Request):
    """The top-k ImageNet classes of one image, the request's time and what served it.

    Args:
        image: the photo, an upload (gradio_client: handle_file(path))
        checkpoint: a checkpoint name, e.g. tf_efficientnetv2_s.in21k_ft_in1k (python -m effnetv2 checkpoints)
        topk: how many classes to return
        path: inference path: fast (folded BatchNorm, channels_last, bf16/fp16 where accurate), fp32 or plain
    Returns:
        the top-k (gr.Label), the timing line, the Grad-CAM class choices
    """
    # No gr.Progress here: progress tracking costs every request time, and a request is one forward.
    r = classify.classify(uploaded(image), checkpoint, topk, path)
    choices = [("top-1", -1)] + [(f"{p.label} ({p.prob:.1%})", p.index) for p in r.predictions]
    return r.confidences, r.timing_markdown(visitor_language(request)), gr.update(choices=choices, value=-1)


OVERLAY_ALT = alt_text.LastAlt()
"""Each session's last Grad-CAM alt text, until the page's step after the overlay sets it (:func:`overlay_alt`)."""


def cam_outputs(r: classify.GradCamResult, request: gr.Request) -> tuple:
    """A Grad-CAM's outputs: the overlay, the crop, the caption; the overlay's alt text (where the map is strongest)
    waits for :func:`overlay_alt`, so that the API's result stays the image itself."""
    OVERLAY_ALT.put(request.session_hash, r.alt)
    return r.overlay, r.crop, r.caption


def overlay_alt(request: gr.Request):
    """The Grad-CAM overlay's alt text, set once the overlay is shown."""
    return gr.update(alt_text=OVERLAY_ALT.pop(request.session_hash))


@torch_event
def on_gradcam(image, checkpoint: str, stage: str, target: float, opacity: float, colormap: str, request: gr.Request):
    """Grad-CAM of one class at one stage, on the plain fp32 model, over the crop the model saw.

    Args:
        image: the photo, an upload (gradio_client: handle_file(path))
        checkpoint: a checkpoint name, e.g. tf_efficientnetv2_s.in21k_ft_in1k
        stage: the stage whose output is explained: stage1 ... stageN or head
        target: the ImageNet class index, -1 for the top-1 class
        opacity: the map's opacity over the crop, 0 to 1
        colormap: jet, turbo, viridis or inferno
    Returns:
        the overlay, the crop the model saw, the caption (class, probability on the plain fp32 model)
    """
    lang = visitor_language(request)
    return cam_outputs(classify.gradcam(uploaded(image), checkpoint, stage, target, opacity, colormap, lang), request)


@torch_event
def on_gradcam_beside(image, checkpoint, stage, target, opacity, colormap, predictions, path, request: gr.Request):
    """Grad-CAM after a classification: its caption puts the predictions' probability beside its own, by path."""
    lang = visitor_language(request)

    def shown(label: str) -> classify.Shown | None:
        return classify.shown_probability(predictions, label, checkpoint, path)

    r = classify.gradcam(uploaded(image), checkpoint, stage, target, opacity, colormap, lang, shown)
    return cam_outputs(r, request)


@user_errors
def on_checkpoint(checkpoint: str):
    """Each architecture has its own stages (Lite0 has seven, V2-S six): offer the chosen one's."""
    return gr.update(choices=classify.cam_choices(checkpoint), value=classify.default_cam_stage(checkpoint))


Controls = dict[str, gr.Component]
"""A tab's controls that a link carries, by their query key (``effnetv2.backend.links.CONTROLS``)."""


def classify_tab() -> tuple[list[tuple[gr.Component, Callable[[str], dict]]], Controls]:
    """The Classify tab; returns its server-made texts the language switch rewrites (component, update in a
    language): the missing-weights banner and the checkpoint picker's states; and its controls a link carries."""
    startup = classify.startup()
    made: list[tuple[gr.Component, Callable[[str], dict]]] = []
    if startup.notice:
        banner = gr.Markdown(startup.notice, elem_classes="banner-warn", elem_id="weights-warning")
        made.append((banner, lambda lang: gr.update(value=classify.startup(lang).notice)))
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(type="pil", sources=["upload", "webcam", "clipboard"], label=i18n("image"), height=320)
            checkpoint = gr.Dropdown(classify.checkpoint_choices(), value=startup.checkpoint, label=i18n("checkpoint"))
            with gr.Row():
                k = limits.TOPK
                topk = gr.Slider(k.low, k.high, value=k.default, step=1, label=i18n("topk"))
                paths = [(i18n(f"path_{key}"), key) for key in classify.PATHS]
                path = gr.Radio(paths, value=classify.DEFAULT_PATH, label=i18n("fast_path"))
            classify_btn = gr.Button(i18n("classify_btn"), variant="primary")
            if EXAMPLES:
                gr.Examples(EXAMPLES, inputs=image, label=i18n("examples"))
        with gr.Column(scale=1):
            label = gr.Label(num_top_classes=limits.TOPK.high, label=i18n("predictions"))
            timing = gr.Markdown(label=i18n("timing_label"), elem_id="timing")
    with gr.Row():
        # JPEG, not PNG: encoding the returned images is part of every request's time.
        crop = gr.Image(type="pil", format="jpeg", label=i18n("crop"), interactive=False, height=300)
        overlay = gr.Image(type="pil", format="jpeg", label=i18n("gradcam"), interactive=False, height=300)
    with gr.Row():
        cam_stage = gr.Dropdown(
            classify.cam_choices(startup.checkpoint),
            value=classify.default_cam_stage(startup.checkpoint),
            label=i18n("cam_stage"),
        )
        cam_class = gr.Dropdown([("top-1", -1)], value=-1, label=i18n("cam_class"), allow_custom_value=True)
        opacity = gr.Slider(*limits.OPACITY, value=0.5, step=0.05, label=i18n("opacity"))
        colormap = gr.Dropdown(classify.COLORMAPS, value=classify.COLORMAPS[0], label=i18n("colormap"))
    cam_caption = gr.Markdown(label=i18n("cam_caption_label"))
    cam_btn = gr.Button(i18n("gradcam_btn"))

    # preprocess=False: the handlers read the upload themselves (see `uploaded`).
    cam_in, cam_out = [image, checkpoint, cam_stage, cam_class, opacity, colormap], [overlay, crop, cam_caption]
    classify_event = classify_btn.click(
        on_classify, [image, checkpoint, topk, path], [label, timing, cam_class], api_name="classify",
        preprocess=False, **TORCH,
    )  # fmt: skip
    beside = classify_event.success(
        on_gradcam_beside, [*cam_in, label, path], cam_out, api_name="gradcam_after_classify", preprocess=False,
        **PRIVATE, **TORCH,
    )  # fmt: skip
    cam_event = cam_btn.click(on_gradcam, cam_in, cam_out, api_name="gradcam", preprocess=False, **TORCH)
    for event in (beside, cam_event):
        event.success(overlay_alt, None, overlay, **PRIVATE)
    # input, not change: a link's checkpoint comes with its own stage (restore_link).
    checkpoint.input(on_checkpoint, checkpoint, cam_stage, **PRIVATE)
    made.append((checkpoint, lambda lang: gr.update(choices=classify.checkpoint_choices(lang))))
    controls = {"ckpt": checkpoint, "photo": image, "topk": topk, "path": path, "stage": cam_stage, "class": cam_class}
    return made, controls


# ------------------------------------------------------------------------------------------------ Latency


@torch_event
def on_latency(
    model: str, blocks: str, size: float, batch: float, runs: float, device: str, dtype: str, threads: str,
    lang: str, progress=gr.Progress(),  # noqa: B008
):  # fmt: skip
    """Per-stage latency of one EfficientNet configuration on this server (random weights: speed only).

    Args:
        model: the architecture, e.g. efficientnetv2_s or efficientnet_b0
        blocks: F/M letters per stage (F = Fused-MBConv, M = MBConv), empty for the published blocks
        size: the image size in pixels
        batch: the batch size
        runs: timed runs (each median is reported with its 95% interval)
        device: auto, cpu or cuda
        dtype: fp32, bf16 or fp16
        threads: auto (1 or all threads, whichever is faster now) or a thread count
        lang: the language of the charts and facts: en or zh-CN
    Returns:
        the measurement (JSON), the per-stage chart, the time vs MACs shares chart, the measurement facts and the
        machine-noise line
    """
    report = latency.measure(
        Blocks.parse(model, blocks), size, batch, runs, device, dtype, threads=threads, progress=progress
    )
    lat = report.latency
    return report.to_dict(), charts.latency_figure(lat, lang), charts.share_figure(lat, lang), latency.facts(lat, lang)


def size_slider(value: int) -> gr.Slider:
    """An image-size slider; its value within EFFNETV2_MAX_IMAGE_SIZE when that is set lower."""
    bound = limits.IMAGE_SIZE
    return gr.Slider(bound.low, bound.high, value=min(value, bound.high), step=16, label=i18n("image_size"))


def threads_dropdown() -> gr.Dropdown:
    """ "auto" (1 or all threads, whichever runs faster right now) or a count: the thread count decides what a
    measurement on a shared machine shows, so the page lets the visitor choose it and says which was used."""
    return gr.Dropdown(latency.thread_choices(), value="auto", label=i18n("threads"))


def latency_tab(lang: gr.Radio) -> None:
    with gr.Row():
        model = gr.Dropdown(lab.models(), value=latency.DEFAULT_MODEL, label=i18n("model"))
        blocks = gr.Textbox(label=i18n("blocks"), placeholder="FFFMMM")
        size = size_slider(224)
    with gr.Row():
        batch = gr.Slider(limits.BATCH.low, limits.BATCH.high, value=limits.BATCH.default, step=1, label=i18n("batch"))
        runs = gr.Slider(limits.RUNS.low, limits.RUNS.high, value=limits.RUNS.default, step=1, label=i18n("runs"))
        device = gr.Dropdown(latency.device_choices(), value="auto", label=i18n("device"))
        dtype = gr.Dropdown(latency.dtype_choices(), value="fp32", label=i18n("dtype"))
        threads = threads_dropdown()
    button = gr.Button(i18n("measure_btn"), variant="primary")
    plot = gr.Plot(label=i18n("latency_chart"), elem_id="latency-plot")
    share = gr.Plot(label=i18n("share_chart"))
    facts = gr.Markdown(elem_id="latency-facts")
    with gr.Accordion(i18n("json"), open=False):
        result = gr.JSON()

    inputs = [model, blocks, size, batch, runs, device, dtype, threads, lang]
    button.click(on_latency, inputs, [result, plot, share, facts], api_name="latency", **TORCH)


# ------------------------------------------------------------------------------------------------ Lab


@torch_event
def on_compare(
    model: str, blocks: str, size: float, batch: float, runs: float, train: bool, threads: str, lang: str,
    progress=gr.Progress(),  # noqa: B008
):  # fmt: skip
    """Fused-MBConv vs MBConv: every stage MBConv (the baseline) against the chosen blocks, timed interleaved.

    Args:
        model: the architecture, e.g. efficientnetv2_b0 or efficientnet_b4
        blocks: the variant's F/M letters per stage (F = Fused-MBConv, M = MBConv); all M is an A/A comparison
        size: the image size in pixels
        batch: the batch size
        runs: measuring rounds, at most (fewer once every 95% interval is tight, or after the time budget)
        train: whether training throughput is measured too
        threads: auto (1 or all threads, whichever is faster now) or a thread count
        lang: the language of the charts, table and verdicts: en or zh-CN
    Returns:
        the comparison (JSON), the per-stage, end-to-end and training charts, the summary table, the verdicts
        (each difference with its 95% interval, or "can't tell", or "too noisy" with the control that showed it)
    """
    result = lab.compare(Blocks.parse(model, blocks), size, batch, runs, train, threads, progress=progress)
    table = gr.update(value=lab.compare_table(result, lang), headers=lab.compare_headers(lang))
    return result.to_dict(), *lab.compare_figures(result, lang), table, lab.summary(result, lang)


def _lab_state(blocks: Blocks) -> tuple:
    """What a new model or blocks changes: the toggles, the letters, the stage table."""
    toggles = gr.update(choices=lab.stage_choices(blocks.model), value=lab.fused_from_blocks(blocks))
    return toggles, str(blocks), lab.stage_rows(blocks)


@user_errors
def lab_preset(preset: str, model: str):
    blocks = lab.apply_preset(preset, model)
    return gr.update(value=blocks.model), *_lab_state(blocks)


@user_errors
def lab_model(model: str):
    size = min(lab.default_image_size(model), 224, limits.IMAGE_SIZE.high)
    return *_lab_state(Blocks.parse(model, None)), gr.update(value=size)


@user_errors
def lab_table_rows(model: str, blocks: str):
    return lab.stage_rows(Blocks.parse(model, blocks))


@user_errors
def lab_toggles(model: str, fused: list[str]):
    blocks = lab.blocks_from_fused(model, fused)
    return str(blocks), lab.stage_rows(blocks)


def lab_tab(demo: gr.Blocks, lang: gr.Radio) -> Controls:
    published = Blocks.parse(lab.DEFAULT_MODEL, None)
    gr.Markdown(strings.ui_text("lab_note"), elem_classes="note")
    with gr.Row():
        model = gr.Dropdown(lab.models(), value=lab.DEFAULT_MODEL, label=i18n("model"))
        preset = gr.Dropdown([p.label for p in lab.PRESETS.values()], value=None, label=i18n("preset"))
        size = size_slider(224)
    fused = gr.CheckboxGroup(
        lab.stage_choices(lab.DEFAULT_MODEL),
        value=lab.fused_from_blocks(published),
        label=i18n("stage_toggles"),
        info=i18n("stage_toggles_info"),
    )
    blocks = gr.Textbox(value=str(published), label=i18n("blocks"), interactive=False, elem_id="lab-blocks")
    with gr.Row():
        batch = gr.Slider(limits.BATCH.low, limits.BATCH.high, value=limits.BATCH.default, step=1, label=i18n("batch"))
        runs = gr.Slider(limits.LAB_ROUNDS.low, limits.LAB_ROUNDS.high, value=limits.LAB_ROUNDS.default, step=1,
                         label=i18n("rounds"))  # fmt: skip
        train = gr.Checkbox(value=True, label=i18n("train_throughput"))
        threads = threads_dropdown()
    table = gr.Dataframe(headers=walkthrough.stage_table_headers(EN), label=i18n("stage_table"), interactive=False)
    button = gr.Button(i18n("compare_btn"), variant="primary")
    verdicts = gr.Markdown(elem_id="lab-verdicts")
    summary = gr.Dataframe(
        headers=lab.compare_headers(EN), label=i18n("lab_table"), interactive=False, elem_id="lab-summary", wrap=True
    )
    stage_plot = gr.Plot(label=i18n("latency_chart"), elem_id="lab-plot")
    with gr.Row():
        totals_plot = gr.Plot(label=i18n("end_to_end"), elem_id="lab-totals")
        train_plot = gr.Plot(label=i18n("train_chart"), elem_id="lab-train")
    with gr.Accordion(i18n("json"), open=False):
        result = gr.JSON()

    preset.input(lab_preset, [preset, model], [model, fused, blocks, table], **PRIVATE)
    model.input(lab_model, [model], [fused, blocks, table, size], **PRIVATE)
    fused.input(lab_toggles, [model, fused], [blocks, table], **PRIVATE)
    demo.load(lab_table_rows, [model, blocks], [table], **PRIVATE)
    button.click(
        on_compare, [model, blocks, size, batch, runs, train, threads, lang],
        [result, stage_plot, totals_plot, train_plot, summary, verdicts], api_name="compare", **TORCH,
    )  # fmt: skip
    return {"model": model, "blocks": blocks, "size": size, "fused": fused, "table": table}


# ------------------------------------------------------------------------------------------------ Walkthrough


@torch_event
def measure_throughput(lang: str, progress=gr.Progress()):  # noqa: B008
    measured = walkthrough.throughput_vs_size(progress=progress)
    return charts.throughput_figure(measured, lang, walkthrough.THROUGHPUT_SIZES)


@torch_event
def measure_shares(lang: str):
    return charts.share_figure(walkthrough.depthwise_latency().latency, lang)


@torch_event
def measure_table3(image_size: float, lang: str, progress=gr.Progress()):  # noqa: B008
    measured = walkthrough.table3_throughput(image_size, progress=progress)
    return gr.update(value=walkthrough.table3(lang, measured), headers=walkthrough.table3_headers(lang))


@user_errors
def stage_table(model: str, blocks: str, image_size: float, lang: str):
    rows = lab.stage_rows(Blocks.parse(model, blocks), image_size)
    return gr.update(value=rows, headers=walkthrough.stage_table_headers(lang))


def diagram_stages(model: str, a: float, b: float):
    n = len(lab.stage_choices(model))
    return gr.update(maximum=n, value=min(int(a), n)), gr.update(maximum=n, value=min(int(b), n))


@user_errors
def diagram(model: str, blocks: str, stage: float):
    return diagrams.stage_diagram(model, int(stage), Blocks.parse(model, blocks))


def set_language(lang: str, wt_model: str, wt_blocks: str, wt_size: float):
    """Everything the walkthrough language changes: its texts, table headers and chart labels."""
    lang = strings.normalize_language(lang)
    return [
        lang,
        *(gr.update(value=text.section(k, lang)) for k in text.SECTIONS),
        gr.update(value=walkthrough.table3(lang), headers=walkthrough.table3_headers(lang)),
        charts.scaling_figure(lang=lang),
        stage_table(wt_model, wt_blocks, wt_size, lang),
    ]


def page_language(page: ui_i18n.PageText) -> tuple[Callable, Callable]:
    """The handlers of the language switch and of the page's first load: the walkthrough (:func:`set_language`),
    then every translated label and server-made text of the page (``page``), all in one language."""

    def switch(lang: str, wt_model: str, wt_blocks: str, wt_size: float) -> list:
        lang = strings.normalize_language(lang)
        return [*set_language(lang, wt_model, wt_blocks, wt_size), *page.updates(lang)]

    def first_page(wt_model: str, wt_blocks: str, wt_size: float, request: gr.Request) -> list:
        """Fill the page after it is served (start-up stays fast): the page in the visitor's language (the
        switch's cookie, else Accept-Language) and the tables counted by ``effnetv2.stats``."""
        return switch(visitor_language(request), wt_model, wt_blocks, wt_size)

    return switch, first_page


def _measure_button(key: str, handler: Callable, inputs: list, elem_id: str, label: str) -> gr.Plot:
    button = gr.Button(i18n(key))
    plot = gr.Plot(label=i18n(label), elem_id=elem_id)
    button.click(handler, inputs, [plot], **PRIVATE, **TORCH)
    return plot


def _diagrams() -> tuple[gr.Dropdown, gr.Textbox]:
    """Two block diagrams of the chosen model, each with its own stage slider."""
    model_name, (a, b) = walkthrough.DIAGRAM_MODEL, walkthrough.DIAGRAM_STAGES
    n = len(lab.stage_choices(model_name))
    with gr.Row():
        model = gr.Dropdown(lab.models(), value=model_name, label=i18n("model"))
        blocks = gr.Textbox(label=i18n("blocks"), placeholder="FFFMMM")
        stage_a = gr.Slider(1, n, value=a, step=1, label=i18n("diagram_stage"))
        stage_b = gr.Slider(1, n, value=b, step=1, label=i18n("diagram_stage"))
    with gr.Row():
        diag_a = gr.Plot(diagrams.stage_diagram(model_name, a), label=i18n("diagram_a"), elem_id="wt-diagram-a")
        diag_b = gr.Plot(diagrams.stage_diagram(model_name, b), label=i18n("diagram_b"), elem_id="wt-diagram-b")
    model.input(diagram_stages, [model, stage_a, stage_b], [stage_a, stage_b], **PRIVATE)
    for stage, plot in ((stage_a, diag_a), (stage_b, diag_b)):
        for control in (model, blocks, stage):
            control.change(diagram, [model, blocks, stage], [plot], **PRIVATE)
    return model, blocks


def walkthrough_tab(lang: gr.Radio) -> tuple[list, list]:
    """The Walkthrough tab; returns the inputs and outputs of its language change (wired by :func:`build_demo`,
    which adds the rest of the page)."""
    lang.render()
    md: dict[str, gr.Markdown] = {}

    def section(key: str) -> None:
        md[key] = gr.Markdown(text.section(key, EN), elem_id=f"wt-{key}")

    section("intro")
    section("problem_images")
    _measure_button("measure_throughput", measure_throughput, [lang], "wt-throughput", "throughput_chart")
    section("progressive")
    section("problem_depthwise")
    _measure_button("measure_shares", measure_shares, [lang], "wt-shares", "shares_chart")
    section("blocks")
    wt_model, wt_blocks = _diagrams()
    section("table3")
    with gr.Row():
        t3 = limits.TABLE3_IMAGE_SIZE
        t3_size = gr.Slider(t3.low, t3.high, value=t3.default, step=32, label=i18n("image_size"))
        t3_btn = gr.Button(i18n("measure_table3"))
    t3_table = gr.Dataframe(
        value=walkthrough.table3_rows(EN),
        headers=walkthrough.table3_headers(EN),
        interactive=False,
        label=i18n("table3_table"),
        elem_id="wt-table3-data",  # "wt-table3" is the section's text above it
        wrap=True,  # ten columns: wrapped headers keep the measured ones on screen
        column_widths=TABLE3_WIDTHS,
    )
    section("problem_scaling")
    scaling_plot = gr.Plot(value=charts.scaling_figure(lang=EN), label=i18n("scaling_chart"), elem_id="wt-scaling")
    section("table4")
    with gr.Row():
        wt_size = size_slider(walkthrough.TABLE4_SIZE)
    wt_table = gr.Dataframe(headers=walkthrough.stage_table_headers(EN), interactive=False, elem_id="wt-table4-data")
    section("lite")

    t3_btn.click(measure_table3, [t3_size, lang], [t3_table], **PRIVATE, **TORCH)
    for control in (wt_model, wt_blocks, wt_size):
        control.change(stage_table, [wt_model, wt_blocks, wt_size, lang], [wt_table], **PRIVATE)
    lang_inputs = [lang, wt_model, wt_blocks, wt_size]
    lang_outputs = [lang, *(md[k] for k in text.SECTIONS), t3_table, scaling_plot, wt_table]
    return lang_inputs, lang_outputs


# ------------------------------------------------------------------------------------------------ Explain


@torch_event
def on_explain(image, checkpoint, methods, stages, target, cell, steps, ig_steps, request: gr.Request,
               progress=gr.Progress()):  # noqa: B008  # fmt: skip
    """The explanation atlas: each method at each stage, with deletion and insertion scores.

    Args:
        image: the photo, an upload (gradio_client: handle_file(path))
        checkpoint: a checkpoint name, e.g. tf_efficientnet_lite0.embedded (no download)
        methods: explanation methods, names of effnetv2.explain.METHODS (e.g. gradcam, ig)
        stages: at most 3 of input, stem, stage1 ... stageN, head
        target: the ImageNet class index, -1 for the top-1 class
        cell: the cell size in pixels of the deletion/insertion curves
        steps: points per deletion/insertion curve
        ig_steps: integrated-gradients steps
    Returns:
        the atlas (gallery), the scores table, the curves, a summary
    """
    lang = visitor_language(request)
    v = explaining.atlas(uploaded(image), checkpoint, methods, stages, target, cell, steps, ig_steps, progress, lang)
    return v.gallery, v.rows, v.figure, v.summary


@torch_event
def on_sanity(image, checkpoint, methods, stage, target, request: gr.Request, progress=gr.Progress()):  # noqa: B008
    """The cascading-randomization sanity check: do the maps change when the weights are randomized?

    Args:
        image: the photo, an upload (gradio_client: handle_file(path))
        checkpoint: a checkpoint name, e.g. tf_efficientnet_lite0.embedded (no download)
        methods: explanation methods (effnetv2.explain.METHODS)
        stage: the stage explained
        target: the ImageNet class index, -1 for the top-1 class
    Returns:
        the rank-correlation chart, the verdict
    """
    lang = visitor_language(request)
    v = explaining.sanity(uploaded(image), checkpoint, methods, stage, target, progress=progress, lang=lang)
    return v.figure, v.verdict


@torch_event
def on_feature_maps(image, checkpoint, stage, k, request: gr.Request):
    """A stage's most active feature maps over the crop.

    Args:
        image: the photo, an upload (gradio_client: handle_file(path))
        checkpoint: a checkpoint name, e.g. tf_efficientnet_lite0.embedded (no download)
        stage: stem, stage1 ... stageN
        k: how many channels to show
    Returns:
        the grid of feature maps, its caption
    """
    v = explaining.feature_maps(uploaded(image), checkpoint, stage, k, visitor_language(request))
    return v.grid, v.caption


@user_errors
def on_explain_checkpoint(checkpoint: str):
    """Each architecture has its own stages: offer the chosen one's."""
    stages, last = explaining.stage_choices(checkpoint), explaining.default_stage(checkpoint)
    return (gr.update(choices=stages, value=explaining.default_stages(checkpoint)),
            gr.update(choices=stages, value=last), gr.update(choices=stages[1:], value=last))  # fmt: skip


def explain_tab() -> tuple[list[tuple[gr.Component, Callable[[str], dict]]], Controls]:
    """The Explain tab; returns its server-made texts the language switch rewrites (component, update in a
    language), and its controls a link carries (with the two stage pickers a checkpoint also changes)."""
    ckpt = classify.startup().checkpoint
    stages, last, lim = explaining.stage_choices(ckpt), explaining.default_stage(ckpt), limits
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(type="pil", sources=["upload", "clipboard"], label=i18n("image"), height=280)
            if EXAMPLES:
                gr.Examples(EXAMPLES, inputs=image, label=i18n("examples"))
        with gr.Column(scale=2):
            checkpoint = gr.Dropdown(classify.checkpoint_choices(), value=ckpt, label=i18n("checkpoint"))
            methods = gr.CheckboxGroup(list(explaining.engine.METHODS), value=list(explaining.engine.METHODS),
                                       label=i18n("explain_methods"))  # fmt: skip
            chosen = gr.CheckboxGroup(stages, value=explaining.default_stages(ckpt), label=i18n("explain_stages"))
            with gr.Row():
                target = gr.Number(value=-1, precision=0, label=i18n("cam_class"), info=i18n("target_info"))
                cell = gr.Slider(*lim.CELL.range, value=lim.CELL.default, step=4, label=i18n("explain_cell"))
                steps = gr.Slider(*lim.CURVE_STEPS.range, value=lim.CURVE_STEPS.default, step=1,
                                  label=i18n("explain_steps"))  # fmt: skip
                ig = gr.Slider(*lim.IG_STEPS.range, value=lim.IG_STEPS.default, step=1, label=i18n("explain_ig_steps"))
            button = gr.Button(i18n("explain_btn"), variant="primary")
    summary = gr.Markdown(label=i18n("explain_summary"), elem_id="explain-summary")
    gallery = gr.Gallery(label=i18n("explain_atlas"), columns=5, height="auto", format="jpeg", elem_id="atlas")
    scores = gr.Dataframe(headers=explaining.SCORE_HEADERS, label=i18n("explain_scores"), interactive=False)
    curves = gr.Plot(label=i18n("explain_curves"))
    with gr.Row():
        sanity_stage = gr.Dropdown(stages, value=last, label=i18n("cam_stage"))
        sanity_btn = gr.Button(i18n("sanity_btn"))
    sanity_plot = gr.Plot(label=i18n("sanity_plot"))
    verdict = gr.Markdown(label=i18n("sanity_verdict"), elem_id="sanity-verdict")
    with gr.Row():
        fm_stage = gr.Dropdown(stages[1:], value=last, label=i18n("feature_stage"))
        k = gr.Slider(*lim.TOP_CHANNELS.range, value=lim.TOP_CHANNELS.default, step=1, label=i18n("feature_k"))
        fm_btn = gr.Button(i18n("feature_btn"))
    grid = gr.Image(type="pil", format="jpeg", label=i18n("feature_grid"), interactive=False)
    fm_caption = gr.Markdown(label=i18n("feature_caption"))

    button.click(on_explain, [image, checkpoint, methods, chosen, target, cell, steps, ig],
                 [gallery, scores, curves, summary], api_name="explain", preprocess=False, **TORCH)  # fmt: skip
    sanity_btn.click(on_sanity, [image, checkpoint, methods, sanity_stage, target], [sanity_plot, verdict],
                     api_name="sanity", preprocess=False, **TORCH)  # fmt: skip
    fm_btn.click(on_feature_maps, [image, checkpoint, fm_stage, k], [grid, fm_caption], api_name="feature_maps",
                 preprocess=False, **TORCH)  # fmt: skip
    checkpoint.input(on_explain_checkpoint, checkpoint, [chosen, sanity_stage, fm_stage], **PRIVATE)
    made = [
        (checkpoint, lambda lang: gr.update(choices=classify.checkpoint_choices(lang))),
        (scores, lambda lang: gr.update(headers=explaining.score_headers(lang))),
    ]
    controls = {"ckpt": checkpoint, "photo": image, "methods": methods, "stages": chosen, "class": target,
                "sanity_stage": sanity_stage, "fm_stage": fm_stage}  # fmt: skip
    return made, controls


# ------------------------------------------------------------------------------------------------ the app


ABSOLUTE_LINK_JS = "(link) => link ? window.location.origin + window.location.pathname + link : link"
"""The page's own address before a link's query string: the server does not know it behind a proxy (a Space)."""


def link_row(tab: str, controls: Controls, lang: gr.Radio) -> None:
    """A button that writes the link reopening ``tab`` with its controls' values (``effnetv2.backend.links``)."""
    keys = links.CONTROLS[tab]
    with gr.Row():
        button = gr.Button(i18n("link_btn"), size="sm", scale=0, min_width=200)
        box = gr.Textbox(label=i18n("link_label"), interactive=False, buttons=["copy"], elem_id=f"{tab}-link", scale=4)

    @user_errors
    def make_link(language: str, *values: Any) -> str:
        chosen = dict(zip(keys, values, strict=True))
        if "photo" in chosen:
            path = uploaded(chosen["photo"])
            chosen["photo"] = links.photo_name(path)
            if path is not None and chosen["photo"] is None:
                gr.Warning(strings.ui_text("link_upload_note", language))
        return links.query(tab, chosen)

    event = button.click(make_link, [lang, *(controls[k] for k in keys)], [box], preprocess=False, **PRIVATE)
    event.success(None, [box], [box], js=ABSOLUTE_LINK_JS, **PRIVATE)


def restore_link(tabs: gr.Tabs, controls: dict[str, Controls]) -> tuple[Callable, list[gr.Component]]:
    """The page's load handler that reopens what a link names (``?tab=...&...``): the tab and its controls, each
    value checked by ``links.read`` (one warning names those left out); and every component it may set."""
    default_ckpt = classify.startup().checkpoint

    def restore(request: gr.Request) -> dict:
        link = links.read(dict(request.query_params), default_ckpt)
        if link.skipped:
            lang = link.lang or visitor_language(request)
            gr.Warning(strings.ui_text("link_skipped", lang).format(what="; ".join(link.skipped)))
        updates: dict = {tabs: gr.update(selected=link.tab)} if link.tab else {}
        if link.tab not in controls:
            return updates
        tab, values = controls[link.tab], link.values
        updates.update({tab[key]: gr.update(value=value) for key, value in values.items()})
        ckpt = values.get("ckpt", default_ckpt)
        if link.tab == "classify" and ("ckpt" in values or "stage" in values):
            stage = values.get("stage", classify.default_cam_stage(ckpt))
            updates[tab["stage"]] = gr.update(choices=classify.cam_choices(ckpt), value=stage)
        if link.tab == "explain" and "ckpt" in values:
            chosen, sanity, feature = on_explain_checkpoint(ckpt)
            updates[tab["stages"]] = {**chosen, **({"value": values["stages"]} if "stages" in values else {})}
            updates[tab["sanity_stage"]], updates[tab["fm_stage"]] = sanity, feature
        if link.tab == "lab" and ("model" in values or "blocks" in values):
            blocks = Blocks.parse(values.get("model", lab.DEFAULT_MODEL), values.get("blocks"))
            toggles, letters, _ = _lab_state(blocks)
            updates[tab["fused"]], updates[tab["blocks"]] = toggles, gr.update(value=letters)
        return updates

    return restore, [tabs, *(c for tab in controls.values() for c in tab.values())]


def build_demo() -> gr.Blocks:
    with ExplorerBlocks(title="EffNetV2 Explorer") as demo:
        gr.Markdown("# " + i18n("title"), elem_id="title")
        gr.Markdown(i18n("subtitle"), elem_id="subtitle")
        # The walkthrough shows the language switch; the latency and lab charts follow it too.
        lang = gr.Radio(
            [(name, tag) for tag, name in strings.LANGUAGES.items()],
            value=EN,
            label="Language / 语言",
            elem_id="language",
            render=False,
        )
        with gr.Tabs() as tabs:
            with gr.Tab(i18n("tab_classify"), id="classify"):
                made, classify_controls = classify_tab()
                link_row("classify", classify_controls, lang)
            with gr.Tab(i18n("tab_latency"), id="latency"):
                latency_tab(lang)
            with gr.Tab(i18n("tab_lab"), id="lab"):
                lab_controls = lab_tab(demo, lang)
                link_row("lab", lab_controls, lang)
            with gr.Tab(i18n("tab_walkthrough"), id="walkthrough"):
                lang_inputs, lang_outputs = walkthrough_tab(lang)
            with gr.Tab(i18n("tab_explain"), id="explain"):
                explain_made, explain_controls = explain_tab()
                made += explain_made
                link_row("explain", explain_controls, lang)
        # The language switch and the browser's language change the whole page, wired once it is all built.
        page = ui_i18n.PageText.of(demo, skip=lang_outputs, made=made)
        outputs = [*lang_outputs, *page.blocks]
        switch, first_page = page_language(page)
        lang.input(switch, lang_inputs, outputs, js=ui_i18n.cookie_js(len(lang_inputs)), **PRIVATE)
        language_js = ui_i18n.link_language_js(len(lang_inputs) - 1)  # a link's ?lang= first
        demo.load(first_page, lang_inputs[1:], outputs, js=language_js, **PRIVATE)
        linked = {"classify": classify_controls, "explain": explain_controls, "lab": lab_controls}
        restore, restored = restore_link(tabs, linked)
        lab_blocks = [lab_controls["model"], lab_controls["blocks"]]
        restored_page = demo.load(restore, None, restored, **PRIVATE)
        restored_page.then(lab_table_rows, lab_blocks, [lab_controls["table"]], **PRIVATE)  # after the lab's own load
    return demo


def launch_options() -> dict[str, Any]:
    """Settings for ``demo.launch``: bounded uploads, disk and sessions (:func:`app_kwargs`), a public share link
    only when GRADIO_SHARE=true asks for one, host/port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (else
    127.0.0.1, Gradio's default), the MCP server when the ``mcp`` package is installed (``GRADIO_MCP_SERVER=false``
    turns it off; ``effnetv2.ui_mcp``). A bad ``EFFNETV2_*`` value stops the start here, in one line naming it,
    its value and its range (``effnetv2.settings``), rather than failing every request."""
    settings.exit_if_unusable()
    mcp = os.environ.get("GRADIO_MCP_SERVER", "true").strip().lower() in ("1", "true", "yes")
    return {
        "max_file_size": limits.MAX_FILE_SIZE,
        "state_session_capacity": limits.SESSION_CAPACITY,
        "share": os.environ.get("GRADIO_SHARE", "").strip().lower() in ("1", "true", "yes"),
        "i18n": _i18n,
        "css": CSS,
        "theme": gr.themes.Soft(),
        "footer_links": ["api", "gradio", "settings"],
        "app_kwargs": ui.app_kwargs(),
        "mcp_server": mcp and ui_mcp.available(),
    }


def queued(demo: gr.Blocks) -> gr.Blocks:
    """``demo`` with its queue: bounded (``limits.QUEUE_SIZE``), one job at a time unless an event says otherwise,
    and the only way in: ``api_open=False`` closes ``/gradio_api/run/NAME``, where Gradio runs a call at once,
    beside the queue and its bound (``effnetv2.backend.routes`` says so in one line)."""
    for name, value in GRADIO_QUEUE_ENV.items():
        os.environ.setdefault(name, value)
    return demo.queue(max_size=limits.QUEUE_SIZE, default_concurrency_limit=1, api_open=False)


def main() -> None:
    # SIGTERM (a platform stopping the app) stops the server in order, as Ctrl-C does: its lifespan then removes
    # the app's temporary folder.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    options = launch_options()  # first: a bad setting stops the start before the tabs are built
    demo = queued(build_demo())
    start = classify.startup()
    # The default checkpoint's fast path is chosen in the background while the eager model serves (not on ZeroGPU).
    warming = not ui.ZERO_GPU and classify.warm_up(start.checkpoint) is not None
    print(classify.startup_line(start, warming), flush=True)  # which weights serve, and why: the first line to read
    demo.launch(**options)


if __name__ == "__main__":
    main()
