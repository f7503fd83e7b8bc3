"""Issue #15: hostile files and costly requests against the app as deployed, with time and memory per case.

The app runs as ``python app.py`` (shipped settings, offline, a random-weight B0 checkpoint in a temporary HF
cache). Each case is one REST call as any program makes it (upload, POST ``gradio_api/call/<name>``, read the
event stream), followed by a good /classify of a real photo, which must succeed. Cases: every file of
``effnetv2.testing.hostile`` on /classify (elongated strips, 40-megapixel strips, PNG chunk bombs, float TIFFs
with NaN/inf), and the issue's /latency and /compare requests that would take an hour or tens of GB.

Reported per case: the answer (the error's one line, or "ok"), the time the call took as the client saw it,
the app's resident memory (VmRSS) after it and its peak so far (VmHWM), and whether the next good request
worked. Exit status 0 when every expected refusal came as one line, every other case succeeded, the next
request always worked, and the app's peak stayed within ``--max-growth-mb`` of its RSS before the cases.

    python bench/hostile_requests.py [--json] [--max-growth-mb 400]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from effnetv2.testing import hostile  # noqa: E402
from effnetv2.testing.appserver import PHOTO, app_process, rest_call, shipped_env  # noqa: E402
from effnetv2.testing.hubfake import make_cache  # noqa: E402

CHECKPOINT = "tf_efficientnetv2_b0.in1k"
COSTLY = [  # (name, endpoint, data): issue #15's requests that would hold the torch slot or the memory
    ("latency_b7_640_batch16_runs30", "latency", ["efficientnet_b7", "", 640, 16, 30, "cpu", "fp32", "1", "en"]),
    ("compare_b7_FFFMMMM_448_train", "compare", ["efficientnet_b7", "FFFMMMM", 448, 1, 1, True, "1", "en"]),
    ("compare_b7_FFFMMMM_640_train", "compare", ["efficientnet_b7", "FFFMMMM", 640, 1, 1, True, "1", "en"]),
]


@dataclass
class Row:
    case: str
    endpoint: str
    expected: str
    """"refusal" or "result"."""
    answer: str
    ms: float
    rss_mb: float
    peak_mb: float
    next_ok: bool

    @property
    def passed(self) -> bool:
        refused = self.answer != "ok"
        one_line = "\n" not in self.answer and "Traceback" not in self.answer and self.answer.strip() != ""
        return self.next_ok and one_line and refused == (self.expected == "refusal")


def upload(http: httpx.Client, name: str, data: bytes) -> dict:
    r = http.post("gradio_api/upload", files={"files": (name, data, "application/octet-stream")})
    r.raise_for_status()
    return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}


def call(http: httpx.Client, endpoint: str, data: list) -> tuple[str, float]:
    """The one-line answer ("ok" for a result) and the call's time in ms."""
    start = time.perf_counter()
    try:
        rest_call(http, endpoint, data, timeout=600)
        answer = "ok"
    except RuntimeError as exc:
        answer = str(exc).removeprefix("error event: ")
        with contextlib.suppress(ValueError, AttributeError):  # Gradio sends {"error": "..."} or null
            answer = json.loads(answer).get("error") or answer
    return answer, (time.perf_counter() - start) * 1e3


def good_request(http: httpx.Client) -> bool:
    try:
        out = rest_call(http, "classify", [upload(http, PHOTO.name, PHOTO.read_bytes()), CHECKPOINT, 3, "plain"])
    except RuntimeError:
        return False
    return bool(out and out[0].get("confidences"))


def run_case(http: httpx.Client, app, case: str, endpoint: str, data: list, expected: str) -> Row:
    answer, ms = call(http, endpoint, data)
    mem = app.memory_mb()
    return Row(case, f"/{endpoint}", expected, answer, ms, mem["VmRSS"], mem["VmHWM"], good_request(http))


def print_table(rows: list[Row]) -> None:
    print(f"{'case':<30} {'endpoint':<10} {'ms':>8} {'RSS MB':>7} {'peak MB':>7} next  answer")
    for r in rows:
        mark = "" if r.passed else "  <-- FAILED"
        nxt = "ok" if r.next_ok else "NO"
        figures = f"{r.ms:8.0f} {r.rss_mb:7.0f} {r.peak_mb:7.0f}"
        print(f"{r.case:<30} {r.endpoint:<10} {figures} {nxt:<5} {r.answer[:110]}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--max-growth-mb", type=float, default=400, help="allowed peak above the starting RSS")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="effnetv2-hostile-") as tmp,
        app_process(shipped_env(), cache=make_cache(Path(tmp), CHECKPOINT)) as app,
        httpx.Client(base_url=app.url, timeout=600) as http,
    ):
        good_request(http)  # warm: model loaded, threads started
        start_rss = app.rss_mb()
        for case in hostile.CASES:
            image = upload(http, f"{case.name}{case.suffix}", case.make())
            expected = "refusal" if case.refusal else "result"
            rows.append(run_case(http, app, case.name, "classify", [image, CHECKPOINT, 3, "plain"], expected))
        for name, endpoint, data in COSTLY:
            rows.append(run_case(http, app, name, endpoint, data, "refusal"))
        end = app.memory_mb()
    growth = end["VmHWM"] - start_rss
    ok = all(r.passed for r in rows) and growth <= args.max_growth_mb
    report = {"rss_before_mb": start_rss, "rss_after_mb": end["VmRSS"], "peak_mb": end["VmHWM"], "passed": ok,
              "cases": [{**asdict(r), "passed": r.passed} for r in rows]}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"app RSS {start_rss:.0f} MB before the cases, {end['VmRSS']:.0f} MB after, peak {end['VmHWM']:.0f} MB")
        print_table(rows)
        print("passed" if ok else f"FAILED (peak growth {growth:.0f} MB, limit {args.max_growth_mb:.0f} MB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
