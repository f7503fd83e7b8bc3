"""Issue 5's done-when, measured in one run: app start-up to the first served page, and the ``/classify``
request time over HTTP against the bare model forward (V2-S at its test size, 384 px, batch 1).

The V2-S weights are random (this machine has no Hub access): a checkpoint made here is put in a temporary
Hugging Face cache in the Hub's layout, so the app loads it exactly as it loads downloaded weights. Timing
does not depend on the weight values, but the inference path does: the ``fast`` path keeps bf16 only when
its logits pass an accuracy gate, and the BatchNorm statistics are calibrated so that they do, as real
weights do (the dtype used is printed).

    python bench/bench_app.py [--runs 20] [--path fast|fp32|plain] [--new-session] [--json]

Targets: start-up < 15 s; ``/classify`` request median / bare forward median <= 1.3 (same inference path on
both sides). The ``/classify`` request is what a click on Classify makes: the photo was uploaded when it was
picked, and the request (POST the call, read Gradio's event stream to the result) is timed with a plain HTTP
client on Gradio's REST API. The upload is timed too, and the upload + request figure is reported beside
it; so is the same through ``gradio_client`` (``--gradio-client``), whose own queue polling and file download
add a large, client-side overhead on 2 cores. Requests and bare forwards are interleaved so that a change of
machine load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from effnetv2.precision import DTYPE_NAMES
from effnetv2.testing.appserver import app_process, rest_call, shipped_env
from effnetv2.testing.hubfake import make_cache

ROOT = Path(__file__).resolve().parents[1]

CHECKPOINT = "tf_efficientnetv2_s.in21k_ft_in1k"
PHOTO = ROOT / "assets" / "chelsea.jpg"


def _server_ms(timing: str) -> float:
    """The inference time the app reports in its timing text (decoding, preprocessing and forward, server-side)."""
    return float(re.search(r"\*\*([0-9.]+) ms", timing).group(1))


def _server_dtype(timing: str) -> str:
    """The precision the app says it served the request in (its timing text: "... on cpu, bf16 (fast) ...")."""
    found = re.search(rf" on \S+, ({'|'.join(DTYPE_NAMES)}) \(", timing)
    if not found:
        raise ValueError(f"the app's timing text names no precision: {timing!r}")
    return found.group(1)


class HttpClassify:
    """``/classify`` over Gradio's documented REST API with a plain HTTP client: upload the photo, then the
    ``/classify`` request proper (POST the call, read the event stream to the result), each timed.

    The page does the same in two steps: it uploads a photo when the user picks it, and a click on Classify
    makes the ``/classify`` request. The client keeps one Gradio session, as the page and ``gradio_client``
    do; ``session=None`` makes every call a new session, as ``curl`` does (Gradio then builds the session's
    state for every call: about 15 ms for this app's 105 components).
    """

    def __init__(self, url: str, path: str, session: str | None = None):
        import httpx

        self.http = httpx.Client(base_url=url, timeout=60)
        self.photo = PHOTO.read_bytes()
        self.path = path
        self.session = session

    def __call__(self) -> tuple[float, float, float]:
        """(upload ms, /classify ms, the server's decoding + preprocessing + forward ms); keeps the app's dtype."""
        start = time.perf_counter()
        up = self.http.post("gradio_api/upload", files={"files": (PHOTO.name, self.photo, "image/jpeg")})
        image = {"path": up.json()[0], "meta": {"_type": "gradio.FileData"}}
        uploaded = time.perf_counter()
        data = rest_call(self.http, "classify", [image, CHECKPOINT, 5, self.path], session_hash=self.session)
        done = time.perf_counter()
        self.dtype = _server_dtype(data[1])
        return (uploaded - start) * 1e3, (done - uploaded) * 1e3, _server_ms(data[1])


class GradioClientClassify:
    """The same request through ``gradio_client`` (its own upload, queue polling and download add overhead)."""

    def __init__(self, url: str, path: str):
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        self.path = path

    def __call__(self) -> tuple[float, float]:
        from gradio_client import handle_file

        start = time.perf_counter()
        out = self.client.predict(handle_file(str(PHOTO)), CHECKPOINT, 5, self.path, api_name="/classify")
        return (time.perf_counter() - start) * 1e3, _server_ms(out[1])


class BareForward:
    """The same model the app uses on ``path``, on the preprocessed photo, called directly (no HTTP)."""

    def __init__(self, path: str):
        from effnetv2 import open_image
        from effnetv2.backend import classify

        self.pre, self.dtype = classify.pretrained_for(CHECKPOINT, path)
        self.x = self.pre.transform.batch([open_image(PHOTO)]).to(self.pre.device)

    def __call__(self) -> float:
        import torch

        with torch.inference_mode():
            start = time.perf_counter()
            self.pre.model(self.x)
            return (time.perf_counter() - start) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--path", default="fast", choices=["fast", "fp32", "plain"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--new-session", action="store_true", help="make every request a new Gradio session (curl)")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds of idle before each timed call")
    parser.add_argument(
        "--gradio-client", action="store_true", help="also time the request through gradio_client (informative)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="effnetv2-bench-") as tmp:
        cache = make_cache(Path(tmp))
        os.environ.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")  # for the bare forward below
        with app_process(shipped_env(), cache=cache) as app:
            startup_s, url = app.startup_s, app.url
            request = HttpClassify(url, args.path, session=None if args.new_session else "bench-app")
            client = GradioClientClassify(url, args.path) if args.gradio_client else None

            for _ in range(3):  # the first requests load the weights and warm up
                request()
            if client:
                client()
            forward = BareForward(args.path)
            if request.dtype != forward.dtype:  # the ratio would compare two different models
                print(
                    f"bench_app: error: the app served {request.dtype} but the bare forward is {forward.dtype}",
                    file=sys.stderr,
                )
                return 1
            for _ in range(3):
                forward()
            # Interleaved, so that a change in machine load hits both sides alike; the server idles meanwhile.
            upload_ms, request_ms, server_ms, forward_ms, client_ms = [], [], [], [], []
            # Two torch processes share the cores: after its work each one's OpenMP threads keep spinning for a
            # while, so every measurement starts after a pause (`--pause`), or it would time the other's spin.
            for _ in range(args.runs):
                time.sleep(args.pause)
                for times, ms in zip((upload_ms, request_ms, server_ms), request(), strict=True):
                    times.append(ms)
                time.sleep(args.pause)
                forward_ms.append(forward())
                if client:
                    time.sleep(args.pause)
                    client_ms.append(client()[0])

    import torch

    def median(times: list[float]) -> float:
        return round(statistics.median(times), 1)

    request, forward_med = statistics.median(request_ms), statistics.median(forward_ms)
    with_upload = statistics.median([u + r for u, r in zip(upload_ms, request_ms, strict=True)])
    result = {
        "checkpoint": CHECKPOINT,
        "path": args.path,
        "dtype": forward.dtype,
        "threads": torch.get_num_threads(),
        "runs": args.runs,
        "session": "new per call" if args.new_session else "kept",
        "startup_s": round(startup_s, 2),
        "request_median_ms": median(request_ms),
        "upload_median_ms": median(upload_ms),
        "upload_and_request_median_ms": round(with_upload, 1),
        "server_inference_median_ms": median(server_ms),
        "forward_median_ms": median(forward_ms),
        "ratio": round(request / forward_med, 3),
        "ratio_with_upload": round(with_upload / forward_med, 3),
        # each request over the bare forward timed right after it: less sensitive to slow load changes
        "paired_ratio_median": round(statistics.median(r / f for r, f in zip(request_ms, forward_ms, strict=True)), 3),
        "gradio_client_median_ms": median(client_ms) if client_ms else None,
        "startup_ok": startup_s < 15,
        "ratio_ok": request / forward_med <= 1.3,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"start-up to first page: {startup_s:.1f} s (target < 15 s)\n"
            f"/classify over HTTP: median {request:.1f} ms (server-side decoding, preprocessing and forward "
            f"{result['server_inference_median_ms']:.1f} ms); bare forward ({args.path}, {forward.dtype}): median "
            f"{forward_med:.1f} ms; ratio {result['ratio']:.2f} (target <= 1.3); {args.runs} runs, "
            f"{result['threads']} threads, Gradio session {result['session']}\n"
            f"with the photo's upload before it (the page uploads when a photo is picked): median {with_upload:.1f} "
            f"ms (upload {result['upload_median_ms']:.1f} ms); ratio {result['ratio_with_upload']:.2f}"
        )
        if client_ms:
            print(f"(upload and request through gradio_client: median {result['gradio_client_median_ms']:.1f} ms)")
    return 0 if result["startup_ok"] and result["ratio_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
