"""The cost of one Gradio request on this machine with no model at all: the floor under ``/classify``.

An event that returns at once, called through ``gradio_client`` over loopback like ``bench/bench_app.py``
calls ``/classify``: once with an image in and out (what ``/classify`` carries), once with none.

    python bench/bench_gradio_floor.py [--runs 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
PHOTO = Path(__file__).resolve().parents[1] / "assets" / "chelsea.jpg"


def main() -> None:
    import gradio as gr
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()

    def echo(image, k):
        return {"a": 0.5, "b": 0.3}, image, "x"

    with gr.Blocks() as demo:
        image, k = gr.Image(type="pil"), gr.Number()
        outputs = [gr.Label(), gr.Image(type="pil", format="jpeg"), gr.Markdown()]
        gr.Button().click(echo, [image, k], outputs, api_name="echo")
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        client = Client(url, verbose=False)
        for name, arg in (("image in and out", handle_file(str(PHOTO))), ("no image", None)):
            times = []
            for i in range(args.runs + 3):
                start = time.perf_counter()
                client.predict(arg, 5, api_name="/echo")
                if i >= 3:
                    times.append((time.perf_counter() - start) * 1e3)
            print(f"empty Gradio event, {name}: median {statistics.median(times):.1f} ms over {args.runs} requests")
    finally:
        demo.close()


if __name__ == "__main__":
    main()
