"""EffNetV2 Explorer, the Gradio app: layout and wiring only; the work is done by ``effnetv2``.

Run ``python app.py`` (http://127.0.0.1:7860; GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override). On a
Hugging Face Space with ZeroGPU, the torch events run under ``spaces.GPU`` when that package is installed.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # ZeroGPU: `spaces` must be imported before torch initialises CUDA; elsewhere a no-op.
    import spaces

    on_gpu: Callable[[Callable], Callable] = spaces.GPU
except ImportError:  # not on a Space

    def on_gpu(fn: Callable) -> Callable:
        return fn


import gradio as gr

from effnetv2 import charts, diagrams, service, walkthrough
from effnetv2.errors import EffNetV2Error
from effnetv2.walkthrough import LANGUAGES, ui_text

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted(str(p) for p in (ROOT / "assets").glob("*.jpg"))
TORCH = {"concurrency_id": "torch", "concurrency_limit": 1}
"""Every event that runs torch shares one queue slot, so that timings are not polluted by each other."""
GRADIO_QUEUE_ENV = {
    # After every event Gradio recomputes, in a worker thread, a pandas summary of up to 10000 past events for
    # its monitoring dashboard (off here): GIL-heavy work that delayed each /classify result by about 2 ms,
    # and grows with the events kept. Every 1000 events over the last 1000 keeps the dashboard usable.
    "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000",
    "GRADIO_ANALYTICS_MAX_EVENTS": "1000",
}
"""Settings Gradio's queue reads from the environment when it is made; a value the deployer set wins."""
LANG_CHOICES = [(name, tag) for tag, name in LANGUAGES.items()]
CSS = """
.banner-warn {border-left: 4px solid #f59e0b; padding-left: 10px;}
.note {font-size: 0.9em; opacity: 0.85;}
"""

_i18n = gr.I18n(**walkthrough.i18n_translations())


def i18n(key: str) -> gr.i18n.I18nData:
    """A translated label (the browser's language; English otherwise)."""
    return _i18n(walkthrough.i18n_key(key))


@contextlib.contextmanager
def shown_to_user() -> Iterator[None]:
    """The package's one-line errors become a message the user sees (no tracebacks in the browser)."""
    try:
        yield
    except (EffNetV2Error, ValueError, OSError, RuntimeError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise gr.Error(text, print_exception=False) from None


def user_errors(fn: Callable) -> Callable:
    """A handler whose errors reach the user as one clear message (see :func:`shown_to_user`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with shown_to_user():
            return fn(*args, **kwargs)

    return wrapper


def torch_event(fn: Callable) -> Callable:
    """A handler that runs torch: user-facing errors, the work on the one long-lived torch thread (see
    ``service.run_on_torch_thread`` and, for why one thread, ``service.on_torch_thread``), and ZeroGPU
    allocation when on a Space.

    The handler is async, so Gradio awaits it on its event loop instead of first moving it to a worker
    thread: one thread hop per request, not two. ``spaces.GPU`` is applied inside the thread hop, not
    outside: ZeroGPU may run the function in a forked worker, and a fork copies no threads, so a thread pool
    handed over from the parent would wait forever.
    """
    work = on_gpu(fn)

    @functools.wraps(fn)
    async def handler(*args: Any, **kwargs: Any) -> Any:
        with shown_to_user():
            return await service.run_on_torch_thread(work, *args, **kwargs)

    return handler


# ------------------------------------------------------------------------------------------------ handlers


def uploaded(payload: Any) -> str | None:
    """The path of an uploaded image, from an event registered with ``preprocess=False``.

    Those events get Gradio's file payload (a dict) instead of a decoded image: ``effnetv2.open_image`` then
    reads the file once, with its own one-line messages for broken, huge or odd files, where Gradio's decoder
    would fail with a generic error. Gradio has already checked that the path is one of its own uploads.
    """
    if isinstance(payload, dict):
        return payload.get("path")
    return payload


@torch_event
def classify(image, checkpoint: str, topk: float, path: str):
    """No gr.Progress here: progress tracking costs every request time, and a request is one forward."""
    r = service.classify(uploaded(image), checkpoint, topk, path)
    choices = [("top-1", -1)] + [(f"{p.label} ({p.prob:.1%})", p.index) for p in r.predictions]
    return r.confidences, r.timing_markdown(), gr.update(choices=choices, value=-1)


@torch_event
def gradcam(image, checkpoint: str, stage: str, target: float, opacity: float, colormap: str):
    r = service.gradcam(uploaded(image), checkpoint, stage, target, opacity, colormap)
    return r.overlay, r.crop, r.caption


@torch_event
def latency(model: str, blocks: str, image_size: float, batch: float, runs: float, device: str, dtype: str, lang: str):
    result = service.latency(model, blocks, image_size, batch, runs, device, dtype)
    return result, charts.latency_figure(result, lang), charts.share_figure(result, lang), charts.describe(result)


@torch_event
def compare(model: str, blocks: str, image_size: float, batch: float, runs: float, train: bool, lang: str):
    result = service.compare(model, blocks, image_size, batch, runs, train)
    figs = service.compare_figures(result, lang)
    return result, *figs, service.compare_table(result)


@user_errors
def lab_preset(preset: str, model: str):
    model, blocks = service.apply_preset(preset, model)
    return (
        gr.update(value=model),
        gr.update(choices=service.stage_choices(model), value=service.fused_from_blocks(model, blocks)),
        blocks,
        service.stage_rows(model, blocks),
    )


@user_errors
def lab_model(model: str):
    blocks = service.apply_preset("published", model)[1]
    return (
        gr.update(choices=service.stage_choices(model), value=service.fused_from_blocks(model, blocks)),
        blocks,
        service.stage_rows(model, blocks),
        gr.update(value=min(service.default_image_size(model), 224)),
    )


@user_errors
def lab_table_rows(model: str, blocks: str):
    return service.stage_rows(model, blocks)


@user_errors
def lab_toggles(model: str, fused: list[str]):
    blocks = service.blocks_from_fused(model, fused)
    return blocks, service.stage_rows(model, blocks)


@user_errors
def stage_table(model: str, blocks: str, image_size: float, lang: str):
    return gr.update(value=service.stage_rows(model, blocks, image_size), headers=walkthrough.stage_table_headers(lang))


def diagram_stages(model: str, a: float, b: float):
    n = len(service.stage_choices(model))
    return gr.update(maximum=n, value=min(int(a), n)), gr.update(maximum=n, value=min(int(b), n))


@user_errors
def diagram(model: str, blocks: str, stage: float):
    return diagrams.stage_diagram(model, int(stage), blocks or None)


@torch_event
def measure_throughput(lang: str, progress=gr.Progress()):  # noqa: B008
    return charts.throughput_figure(service.throughput_vs_size(progress=progress), lang)


@torch_event
def measure_shares(lang: str):
    return charts.share_figure(service.walkthrough_latency(), lang)


@torch_event
def measure_table3(image_size: float, lang: str, progress=gr.Progress()):  # noqa: B008
    measured = service.table3_throughput(image_size, progress=progress)
    return gr.update(value=service.table3(lang, measured), headers=walkthrough.table3_headers(lang))


def set_language(lang: str, wt_model: str, wt_blocks: str, wt_size: float):
    """Everything the walkthrough language changes: its texts, table headers and chart labels."""
    lang = walkthrough.normalize_language(lang)
    texts = [gr.update(value=walkthrough.section(k, lang)) for k in walkthrough.SECTIONS]
    return [
        lang,
        *texts,
        gr.update(value=service.table3(lang), headers=walkthrough.table3_headers(lang)),
        charts.scaling_figure(lang=lang),
        stage_table(wt_model, wt_blocks, wt_size, lang),
    ]


def first_page(wt_model: str, wt_blocks: str, wt_size: float, request: gr.Request):
    """Fill the page after it is served (start-up stays fast): the walkthrough in the browser's language
    (Accept-Language; the switch changes it) and the tables counted by ``effnetv2.stats``."""
    header = request.headers.get("accept-language") if request is not None else None
    return set_language(walkthrough.language_from_header(header), wt_model, wt_blocks, wt_size)


# ------------------------------------------------------------------------------------------------ layout


def build_demo() -> gr.Blocks:
    startup = service.weights_problem()
    en = walkthrough.DEFAULT_LANGUAGE
    with gr.Blocks(title="EffNetV2 Explorer") as demo:
        gr.Markdown(f"# {ui_text('title')}\n{ui_text('subtitle')}")
        with gr.Tabs():
            # ---------------------------------------------------------------- Classify
            with gr.Tab(i18n("tab_classify"), id="classify"):
                if startup:
                    gr.Markdown(startup, elem_classes="banner-warn", elem_id="weights-warning")
                with gr.Row():
                    with gr.Column(scale=1):
                        image = gr.Image(
                            type="pil", sources=["upload", "webcam", "clipboard"], label=i18n("image"), height=320
                        )
                        checkpoint = gr.Dropdown(
                            service.checkpoint_choices(), value=service.DEFAULT_CHECKPOINT, label=i18n("checkpoint")
                        )
                        with gr.Row():
                            topk = gr.Slider(
                                service.TOPK.low, service.TOPK.high, value=service.TOPK.default, step=1,
                                label=i18n("topk"),
                            )  # fmt: skip
                            path = gr.Radio(
                                service.inference_paths(), value=service.DEFAULT_PATH, label=i18n("fast_path")
                            )
                        classify_btn = gr.Button(i18n("classify_btn"), variant="primary")
                        if EXAMPLES:
                            gr.Examples(EXAMPLES, inputs=image)
                    with gr.Column(scale=1):
                        label = gr.Label(num_top_classes=service.TOPK.high, label=i18n("predictions"))
                        timing = gr.Markdown(elem_id="timing")
                with gr.Row():
                    # JPEG, not PNG: encoding the returned images is part of every request's time.
                    crop = gr.Image(type="pil", format="jpeg", label=i18n("crop"), interactive=False, height=300)
                    overlay = gr.Image(type="pil", format="jpeg", label=i18n("gradcam"), interactive=False, height=300)
                with gr.Row():
                    cam_stage = gr.Dropdown(
                        service.CAM_STAGES, value=service.CAM_DEFAULT_STAGE, label=i18n("cam_stage")
                    )
                    cam_class = gr.Dropdown([("top-1", -1)], value=-1, label=i18n("cam_class"), allow_custom_value=True)
                    opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label=i18n("opacity"))
                    colormap = gr.Dropdown(service.COLORMAPS, value=service.COLORMAPS[0], label=i18n("colormap"))
                cam_caption = gr.Markdown()
                cam_btn = gr.Button(i18n("gradcam_btn"))

                # preprocess=False: the handlers read the upload themselves (see `uploaded`).
                cls_ev = classify_btn.click(
                    classify, [image, checkpoint, topk, path], [label, timing, cam_class],
                    api_name="classify", preprocess=False, **TORCH,
                )  # fmt: skip
                cam_inputs = [image, checkpoint, cam_stage, cam_class, opacity, colormap]
                cam_outputs = [overlay, crop, cam_caption]
                cls_ev.success(
                    gradcam, cam_inputs, cam_outputs, api_name="gradcam_after_classify",
                    api_visibility="private", preprocess=False, **TORCH,
                )  # fmt: skip
                cam_btn.click(gradcam, cam_inputs, cam_outputs, api_name="gradcam", preprocess=False, **TORCH)

            # ---------------------------------------------------------------- Latency
            with gr.Tab(i18n("tab_latency"), id="latency"):
                with gr.Row():
                    lat_model = gr.Dropdown(service.models(), value="efficientnetv2_b0", label=i18n("model"))
                    lat_blocks = gr.Textbox(label=i18n("blocks"), placeholder="FFFMMM")
                    lat_size = gr.Slider(
                        service.IMAGE_SIZE.low, service.IMAGE_SIZE.high, value=224, step=16, label=i18n("image_size")
                    )
                with gr.Row():
                    lat_batch = gr.Slider(service.BATCH.low, service.BATCH.high, value=1, step=1, label=i18n("batch"))
                    lat_runs = gr.Slider(
                        service.RUNS.low, service.RUNS.high, value=service.RUNS.default, step=1, label=i18n("runs")
                    )
                    lat_device = gr.Dropdown(service.device_choices(), value="auto", label=i18n("device"))
                    lat_dtype = gr.Dropdown(service.DTYPES, value="fp32", label=i18n("dtype"))
                lat_btn = gr.Button(i18n("measure_btn"), variant="primary")
                lat_plot = gr.Plot(label=i18n("latency_chart"), elem_id="latency-plot")
                lat_share = gr.Plot(label=i18n("share_chart"))
                lat_facts = gr.Markdown(elem_id="latency-facts")
                with gr.Accordion("JSON", open=False):
                    lat_json = gr.JSON()

            # ---------------------------------------------------------------- Lab
            with gr.Tab(i18n("tab_lab"), id="lab"):
                gr.Markdown(ui_text("lab_note"), elem_classes="note")
                with gr.Row():
                    lab_model_dd = gr.Dropdown(service.models(), value="efficientnetv2_b0", label=i18n("model"))
                    preset = gr.Dropdown([p.label for p in service.PRESETS.values()], value=None, label=i18n("preset"))
                    lab_size = gr.Slider(
                        service.IMAGE_SIZE.low, service.IMAGE_SIZE.high, value=224, step=16, label=i18n("image_size")
                    )
                fused = gr.CheckboxGroup(
                    service.stage_choices("efficientnetv2_b0"),
                    value=service.fused_from_blocks("efficientnetv2_b0", None),
                    label=i18n("stage_toggles"),
                    info="checked = Fused-MBConv, unchecked = MBConv",
                )
                lab_blocks = gr.Textbox(
                    value=service.apply_preset("published", "efficientnetv2_b0")[1],
                    label=i18n("blocks"),
                    interactive=False,
                    elem_id="lab-blocks",
                )
                with gr.Row():
                    lab_batch = gr.Slider(service.BATCH.low, service.BATCH.high, value=1, step=1, label=i18n("batch"))
                    lab_runs = gr.Slider(service.RUNS.low, service.RUNS.high, value=5, step=1, label=i18n("runs"))
                    lab_train = gr.Checkbox(value=True, label=i18n("train_throughput"))
                lab_table = gr.Dataframe(
                    headers=walkthrough.stage_table_headers(en),
                    label=i18n("stage_table"),
                    interactive=False,
                )
                lab_btn = gr.Button(i18n("compare_btn"), variant="primary")
                lab_summary = gr.Dataframe(
                    headers=service.COMPARE_HEADERS,
                    label="baseline vs variant",
                    interactive=False,
                    elem_id="lab-summary",
                )
                lab_stage_plot = gr.Plot(label=i18n("latency_chart"), elem_id="lab-plot")
                with gr.Row():
                    lab_totals_plot = gr.Plot()
                    lab_train_plot = gr.Plot()
                with gr.Accordion("JSON", open=False):
                    lab_json = gr.JSON()

            # ---------------------------------------------------------------- Walkthrough
            with gr.Tab(i18n("tab_walkthrough"), id="walkthrough"):
                lang = gr.Radio(LANG_CHOICES, value=en, label="Language / 语言", elem_id="language")
                md: dict[str, gr.Markdown] = {}

                def section(key: str) -> None:
                    md[key] = gr.Markdown(walkthrough.section(key, en), elem_id=f"wt-{key}")

                section("intro")
                section("problem_images")
                thr_btn = gr.Button(i18n("measure_throughput"))
                thr_plot = gr.Plot(elem_id="wt-throughput")
                section("progressive")
                section("problem_depthwise")
                share_btn = gr.Button(i18n("measure_shares"))
                share_plot = gr.Plot(elem_id="wt-shares")
                section("blocks")
                with gr.Row():
                    wt_model = gr.Dropdown(service.models(), value="efficientnetv2_s", label=i18n("model"))
                    wt_blocks = gr.Textbox(label=i18n("blocks"), placeholder="FFFMMM")
                    wt_stage_a = gr.Slider(1, 6, value=2, step=1, label=i18n("diagram_stage"))
                    wt_stage_b = gr.Slider(1, 6, value=4, step=1, label=i18n("diagram_stage"))
                with gr.Row():
                    diag_a = gr.Plot(value=diagrams.stage_diagram("efficientnetv2_s", 2), elem_id="wt-diagram-a")
                    diag_b = gr.Plot(value=diagrams.stage_diagram("efficientnetv2_s", 4), elem_id="wt-diagram-b")
                section("table3")
                with gr.Row():
                    t3_size = gr.Slider(64, 380, value=128, step=32, label=i18n("image_size"))
                    t3_btn = gr.Button(i18n("measure_table3"))
                t3_table = gr.Dataframe(
                    value=walkthrough.table3_rows(en),
                    headers=walkthrough.table3_headers(en),
                    interactive=False,
                    elem_id="wt-table3",
                )
                section("problem_scaling")
                scaling_plot = gr.Plot(value=charts.scaling_figure(lang=en))
                section("table4")
                with gr.Row():
                    wt_size = gr.Slider(
                        service.IMAGE_SIZE.low, service.IMAGE_SIZE.high, value=384, step=16, label=i18n("image_size")
                    )
                wt_table = gr.Dataframe(
                    headers=walkthrough.stage_table_headers(en),
                    interactive=False,
                    elem_id="wt-table4",
                )

        # ---------------------------------------------------------------- wiring (non-classify)
        lat_btn.click(
            latency, [lat_model, lat_blocks, lat_size, lat_batch, lat_runs, lat_device, lat_dtype, lang],
            [lat_json, lat_plot, lat_share, lat_facts], api_name="latency", **TORCH,
        )  # fmt: skip
        preset.input(lab_preset, [preset, lab_model_dd], [lab_model_dd, fused, lab_blocks, lab_table],
                     api_visibility="private")  # fmt: skip
        lab_outputs = [fused, lab_blocks, lab_table, lab_size]
        lab_model_dd.input(lab_model, [lab_model_dd], lab_outputs, api_visibility="private")
        fused.input(lab_toggles, [lab_model_dd, fused], [lab_blocks, lab_table], api_visibility="private")
        lab_btn.click(
            compare, [lab_model_dd, lab_blocks, lab_size, lab_batch, lab_runs, lab_train, lang],
            [lab_json, lab_stage_plot, lab_totals_plot, lab_train_plot, lab_summary], api_name="compare", **TORCH,
        )  # fmt: skip

        lang_outputs = [lang, *(md[k] for k in walkthrough.SECTIONS), t3_table, scaling_plot, wt_table]
        lang.input(set_language, [lang, wt_model, wt_blocks, wt_size], lang_outputs, api_visibility="private")
        demo.load(first_page, [wt_model, wt_blocks, wt_size], lang_outputs, api_visibility="private")
        demo.load(lab_table_rows, [lab_model_dd, lab_blocks], [lab_table], api_visibility="private")
        thr_btn.click(measure_throughput, [lang], [thr_plot], api_visibility="private", **TORCH)
        share_btn.click(measure_shares, [lang], [share_plot], api_visibility="private", **TORCH)
        t3_btn.click(measure_table3, [t3_size, lang], [t3_table], api_visibility="private", **TORCH)
        wt_model.input(diagram_stages, [wt_model, wt_stage_a, wt_stage_b], [wt_stage_a, wt_stage_b],
                       api_visibility="private")  # fmt: skip
        for ctl in (wt_model, wt_blocks, wt_stage_a):
            ctl.change(diagram, [wt_model, wt_blocks, wt_stage_a], [diag_a], api_visibility="private")
        for ctl in (wt_model, wt_blocks, wt_stage_b):
            ctl.change(diagram, [wt_model, wt_blocks, wt_stage_b], [diag_b], api_visibility="private")
        for ctl in (wt_model, wt_blocks, wt_size):
            ctl.change(stage_table, [wt_model, wt_blocks, wt_size, lang], [wt_table], api_visibility="private")
    return demo


def launch_options() -> dict[str, Any]:
    """Settings for ``demo.launch``: bounded uploads and sessions, a public share link only when GRADIO_SHARE=true
    asks for one, host/port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (else 127.0.0.1, Gradio's default)."""
    return {
        "max_file_size": service.MAX_FILE_SIZE,
        "state_session_capacity": service.SESSION_CAPACITY,
        "share": os.environ.get("GRADIO_SHARE", "").strip().lower() in ("1", "true", "yes"),
        "i18n": _i18n,
        "css": CSS,
        "theme": gr.themes.Soft(),
        "footer_links": ["api", "gradio", "settings"],
    }


def queued(demo: gr.Blocks) -> gr.Blocks:
    """``demo`` with its queue: bounded (``service.QUEUE_SIZE``), one job at a time unless an event says otherwise."""
    for name, value in GRADIO_QUEUE_ENV.items():
        os.environ.setdefault(name, value)
    return demo.queue(max_size=service.QUEUE_SIZE, default_concurrency_limit=1)


def main() -> None:
    queued(build_demo()).launch(**launch_options())


if __name__ == "__main__":
    main()
