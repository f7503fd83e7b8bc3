"""Issue 5's done-when, measured in one run: app start-up to the first served page, and the ``/classify``
request time over HTTP against the bare model forward (V2-S at its test size, 384 px, batch 1).

The V2-S weights are random (this machine has no Hub access): a checkpoint made here is put in a temporary
Hugging Face cache in the Hub's layout, so the app loads it exactly as it loads downloaded weights. Timing
does not depend on the weight values.

    python bench/bench_app.py [--runs 20] [--path fast|fp32|plain] [--json]

Targets: start-up < 15 s; request median / forward median <= 1.3 (same inference path on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CHECKPOINT = "tf_efficientnetv2_s.in21k_ft_in1k"
PHOTO = ROOT / "assets" / "chelsea.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cache(folder: Path) -> Path:
    """A HF cache holding a random-init V2-S as ``timm/tf_efficientnetv2_s.in21k_ft_in1k``."""
    from hubfake import add_to_hf_cache, save_timm_checkpoint

    from effnetv2 import create_model, resolve_checkpoint

    ckpt = resolve_checkpoint(CHECKPOINT)
    weights = save_timm_checkpoint(create_model(ckpt.arch).eval(), folder / "s.safetensors")
    cache = folder / "hub"
    add_to_hf_cache(cache, ckpt.repo_id, {ckpt.filename: weights})
    return cache


def wait_for_page(url: str, proc: subprocess.Popen, timeout: float = 120) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and r.read(100):
                    return time.perf_counter()
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"no page at {url} after {timeout} s")


def bare_forward_ms(path: str, runs: int) -> tuple[float, str]:
    """Median forward of the same model the app uses on ``path``, on the preprocessed photo (no HTTP)."""
    import torch

    from effnetv2 import open_image, service

    pre, dtype = service.pretrained_for(CHECKPOINT, path)
    x = pre.transform.batch([open_image(PHOTO)]).to(pre.device)
    times = []
    with torch.inference_mode():
        for i in range(runs + 3):
            start = time.perf_counter()
            pre.model(x)
            if i >= 3:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), dtype


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--path", default="fast", choices=["fast", "fp32", "plain"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="effnetv2-bench-") as tmp:
        tmp = Path(tmp)
        cache = make_cache(tmp)
        port = free_port()
        env = {
            **os.environ,
            "HF_HUB_CACHE": str(cache),
            "HF_HUB_OFFLINE": "1",
            "GRADIO_SERVER_PORT": str(port),
            "GRADIO_TEMP_DIR": str(tmp / "gradio"),
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        env.pop("EFFNETV2_WEIGHTS", None)
        os.environ.update(HF_HUB_CACHE=env["HF_HUB_CACHE"], HF_HUB_OFFLINE="1")  # for the bare forward below
        url = f"http://127.0.0.1:{port}/"
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            startup_s = wait_for_page(url, proc) - start
            from gradio_client import Client, handle_file

            client = Client(url, verbose=False)
            request_ms = []
            for i in range(args.runs + 3):  # the first requests load the weights and warm up
                t0 = time.perf_counter()
                client.predict(handle_file(str(PHOTO)), CHECKPOINT, 5, args.path, api_name="/classify")
                if i >= 3:
                    request_ms.append((time.perf_counter() - t0) * 1e3)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        forward_ms, dtype = bare_forward_ms(args.path, args.runs)

    import torch

    request = statistics.median(request_ms)
    result = {
        "checkpoint": CHECKPOINT,
        "path": args.path,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "runs": args.runs,
        "startup_s": round(startup_s, 2),
        "request_median_ms": round(request, 1),
        "forward_median_ms": round(forward_ms, 1),
        "ratio": round(request / forward_ms, 3),
        "startup_ok": startup_s < 15,
        "ratio_ok": request / forward_ms <= 1.3,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"start-up to first page: {startup_s:.1f} s (target < 15 s)\n"
            f"/classify over HTTP: median {request:.1f} ms; bare forward ({args.path}, {dtype}): median "
            f"{forward_ms:.1f} ms; ratio {request / forward_ms:.2f} (target <= 1.3); {args.runs} runs, "
            f"{torch.get_num_threads()} threads"
        )
    return 0 if result["startup_ok"] and result["ratio_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
