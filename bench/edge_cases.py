"""Issue 15, items 5-8: malformed requests, round after round, against the app as deployed (``python app.py``).

Every case must be refused with one line (an ``error`` event or an HTTP refusal with ``{"error": "..."}``, never
``null``), a good /classify must work after every round, and the app's memory must not grow with the refusals.
The app runs offline on an empty Hugging Face cache, so /classify serves the embedded Lite0.

    python bench/edge_cases.py [--rounds 20] [--json]

Reported: refusals and failures (a missing or multi-line message, a good request that failed), the time a
client waits for a refusal (POST to the last event, p50/p95), and the app's VmRSS before the first round and
after the last, with its peak (VmHWM), and VmRSS after every round (each call without a session hash is a new
Gradio session, whose state the app keeps up to ``EFFNETV2_SESSION_CAPACITY``). Exit status 0 when nothing
failed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from effnetv2.checkpoints import EMBEDDED_CHECKPOINT
from effnetv2.testing.appserver import PHOTO, app_process, rest_event, shipped_env

LAT = ["efficientnetv2_b0", "", 64, 1, 1, "cpu", "fp32", "1", "en"]
CMP = ["efficientnetv2_b0", "MMMMMM", 64, 1, 1, False, "1", "en"]


def cases(image: dict) -> list[tuple[str, list | bytes]]:
    """(endpoint, data or a raw body): each malformed in one way the outside tester tried."""

    def at(base: list, i: int, value) -> list:
        return [value if j == i else v for j, v in enumerate(base)]

    rest = [EMBEDDED_CHECKPOINT, 3, "plain"]
    images = [str(PHOTO), "https://example.com/a.jpg", "data:image/png;base64,AAAA", "cat", 5, [1], {"path": "/etc/x"}]
    return [
        *[("latency", at(LAT, 2, v)) for v in ("1e3", "64", [64], None)],
        *[("compare", at(CMP, i, v)) for i, v in ((3, "64"), (4, [1]), (5, "false"))],
        *[("classify", [v, *rest]) for v in images],
        ("latency", [None] * 8),
        ("classify", [image]),
        ("classify", json.dumps({"data": ["x" * 5_000_000, *rest]}).encode()),
        ("nope", []),
        ("on_checkpoint", [EMBEDDED_CHECKPOINT]),
        ("classify", [image, "b" * 10_000, 3, "plain"]),
    ]


def answer(http: httpx.Client, api: str, data: list | bytes) -> str | None:
    """The refusal's line, or None when there was none (a result, or an error without a message)."""
    body = data if isinstance(data, bytes) else json.dumps({"data": data}).encode()
    r = http.post(f"gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    if r.status_code != 200:
        return r.json().get("error")
    kind, payload = rest_event(http, api, r.json()["event_id"])
    return payload.get("error") if kind == "error" and isinstance(payload, dict) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    failures: list[str] = []
    waits: list[float] = []
    trace: list[int] = []
    with tempfile.TemporaryDirectory() as cache, app_process(shipped_env(), cache=Path(cache)) as app:
        http = httpx.Client(base_url=app.url, timeout=120)
        path = http.post("gradio_api/upload", files={"files": PHOTO.open("rb")}).json()[0]
        image = {"path": path, "meta": {"_type": "gradio.FileData"}}
        good = [image, EMBEDDED_CHECKPOINT, 3, "plain"]
        for api, data in (("classify", good), ("latency", LAT)):  # warm up: models loaded, allocator settled
            answer(http, api, data)
        before = app.memory_mb()
        for round_ in range(args.rounds):
            for api, data in cases(image):
                start = time.perf_counter()
                line = answer(http, api, data)
                waits.append((time.perf_counter() - start) * 1e3)
                if not line or "\n" in line:
                    failures.append(f"round {round_}: /{api}: {line!r}")
            if answer(http, "classify", good) is not None:
                failures.append(f"round {round_}: the good /classify after the refusals failed")
            trace.append(round(app.rss_mb()))
        after = app.memory_mb()
    q = statistics.quantiles(waits, n=20)
    report = {
        "refusals": len(waits),
        "failures": failures,
        "p50_ms": round(statistics.median(waits), 1),
        "p95_ms": round(q[18], 1),
        "rss_before_mb": round(before["VmRSS"]),
        "rss_after_mb": round(after["VmRSS"]),
        "rss_peak_mb": round(after["VmHWM"]),
        "rss_trace_mb": trace,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{report['refusals']} refusals, {len(failures)} failed; wait p50 {report['p50_ms']} ms, p95 "
            f"{report['p95_ms']} ms; app RSS {report['rss_before_mb']} MB before, {report['rss_after_mb']} MB after, "
            f"peak {report['rss_peak_mb']} MB; RSS after each round (MB): {' '.join(map(str, trace))}"
        )
        for f in failures:
            print("FAILED", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
