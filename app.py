"""EffNetV2 Explorer, the Gradio app: layout and wiring only; the work is done by ``effnetv2``."""

from __future__ import annotations

import gradio as gr

from effnetv2 import list_models, stats


def stage_table(model: str, blocks: str, image_size: float) -> list[list]:
    s = stats(model, blocks.strip() or None, int(image_size))
    return [[r.name, r.block, r.stride, r.channels, r.layers, r.params, round(r.macs / 1e6, 1)] for r in s.stages]


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="EffNetV2 Explorer") as demo:
        gr.Markdown("# EffNetV2 Explorer\nThe stage table of any EfficientNet or EfficientNetV2 (paper Table 4).")
        with gr.Row():
            model = gr.Dropdown(list_models(), value="efficientnetv2_s", label="Model")
            blocks = gr.Textbox(label="Blocks (F = Fused-MBConv, M = MBConv; empty = as published)")
            size = gr.Number(value=384, minimum=32, maximum=1024, precision=0, label="Image size")
        table = gr.Dataframe(headers=["stage", "operator", "stride", "channels", "layers", "params", "MMACs"])
        gr.Button("Show").click(stage_table, [model, blocks, size], table, api_name="stages")
    return demo


if __name__ == "__main__":
    build_demo().launch()
