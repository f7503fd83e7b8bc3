"""Issue 6, "Load": many concurrent clients on ``/classify`` and ``/gradcam``, a memory soak, and the queue's
polite refusal when it is full, against the app as it is deployed (``python app.py``, one process).

The app runs in a subprocess, offline, on a temporary Hugging Face cache holding a random-weight checkpoint
(bench/bench_app.py's helpers; latency and memory do not depend on the weight values). Every client has its
own HTTP connection and calls Gradio's REST API as any program would: upload a photo from assets/, POST
``gradio_api/call/<name>``, read the event stream to ``complete`` or ``error``.

    python bench/load_test.py [--clients 16] [--requests 4] [--checkpoint tf_efficientnetv2_b0.in1k] [--json]
    python bench/load_test.py --soak 600 [--soak-clients 4] [--sample 5] [--max-slope 1] [--trace]
    python bench/load_test.py --queue-check [--queue-size 2] [--burst 12]
    python bench/load_test.py --abuse 60 [--abuse-clients 4] [--abusers 2] [--max-p95-ratio 2]

Load (every run): all clients are released at once; each makes ``--requests`` requests back to back,
alternating /classify and /gradcam (odd clients start with /gradcam), over the photos, top-k values and
Grad-CAM stages in turn. A request fails on an ``error`` event, an HTTP error, a timeout or a malformed
result (/classify: the top-k labels, timing text and class choices; /gradcam: the overlay, fetched as a JPEG,
the crop and a caption naming the stage). Reported: failures (must be 0), p50/p95/max latency per endpoint and
overall, as a client sees it (upload to result; /gradcam includes fetching the overlay), throughput (requests
over the wall time), and the app's RSS (VmRSS) before and after the load with its peak (VmHWM).

Soak (``--soak SECONDS``, after the load run, which warms the app's allocator up): ``--soak-clients`` clients
keep sending requests; the app's VmRSS is sampled every ``--sample`` seconds. Memory is *flat* when the
least-squares slope of RSS over the second half of the soak is at most ``--max-slope`` MB/min (default 1): the
first half is where caches, sessions (up to their cap) and the allocator fill up, so a server that levels off
passes and one that keeps growing does not, however it started. A leak of 50 kB per request at 7.7 requests/s
is 23 MB/min; 1 MB/min is 1.4 GB a day. Run it for 10 minutes or more (``--soak 600``): a short soak's second
half is mostly the fill-up. Reported beside it: the slope of the whole run, the growth from start to end, the
time of the maximum, and with ``--trace`` every sample (the JSON always has them).
Note: each REST call here (no session hash) is a new Gradio session, and Gradio keeps every session's state
(a copy of the app's component config, about 200 kB for this app) up to ``launch(state_session_capacity=...)``,
200 sessions in this app (``EFFNETV2_SESSION_CAPACITY``); the soak measures that too, as it would any
per-request growth.

Queue check (``--queue-check``, instead of the load): a fresh app with ``EFFNETV2_QUEUE_SIZE=--queue-size``;
``--burst`` clients upload first, then POST /gradcam at the same instant. Passes when some are refused, every
refusal is Gradio's polite one (HTTP 503, "Queue is full. Max size is ..."), every accepted request completes
well-formed, and a request after the burst succeeds. Torch events share one worker, so one request runs and
``--queue-size`` wait: at most ``queue-size + 1`` of a simultaneous burst are accepted.

Abuse (``--abuse SECONDS``, instead of the load): ``--abuse-clients`` normal clients (as in the soak) for
SECONDS alone, for as long beside ``--abusers`` abusive clients, and for as long alone again (the p95 without
abuse is that of both parts alone, so that other load on the machine drifting does not read as the abuse's
effect). The abusive clients (:mod:`effnetv2.testing.abuse`) each cycle, a second apart, through an upload that
announces 1 GB, a 64 MB upload with no Content-Length, an upload cut off after 3 of its 9.5 MB, bad values
(/latency runs 10^6, blocks "ZZZZZZ", an unknown model, /classify naming /etc/passwd), and a 30-run /latency at
batch 4 whose client goes away after 0.5 s. Passes when no normal
request fails in either part, every abusive act gets its due answer (413, an error event, or none for a
cut-off), the normal clients' p95 with abuse is at most ``--max-p95-ratio`` times that without, the app's temp
folder (sampled every second) stays within its disk budget (``EFFNETV2_UPLOAD_BUDGET_MB``, given to the app),
and the server is still up.

Clients and app share this machine's cores: the figures are those of the whole loopback system. Exit status
0 when nothing failed, the soak was flat, and the queue check and the abuse run passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
from effnetv2.testing import abuse  # noqa: E402
from effnetv2.testing.appserver import AppProcess, app_process, rest_result, shipped_env  # noqa: E402
from effnetv2.testing.hubfake import make_cache  # noqa: E402

DEFAULT_CHECKPOINT = "tf_efficientnetv2_b0.in1k"
PHOTOS = {p.name: p.read_bytes() for p in sorted((ROOT / "assets").glob("*.jpg"))}
"""Real photos of several sizes and aspect ratios, read once so that the timed loop does no disk reads."""
ENDPOINTS = ("classify", "gradcam")


# ------------------------------------------------------------------------------------------------- the app


@contextlib.contextmanager
def running_app(
    checkpoint: str = DEFAULT_CHECKPOINT, queue_size: int | None = None, settings: dict[str, str] | None = None
) -> Iterator[AppProcess]:
    """The app as deployed (shipped settings, or ``queue_size`` and other EFFNETV2_* ``settings``), offline, on a
    temporary HF cache with a random-weight ``checkpoint``."""
    with tempfile.TemporaryDirectory(prefix="effnetv2-load-") as tmp:
        env = {**shipped_env(), **(settings or {})}
        if queue_size is not None:
            env["EFFNETV2_QUEUE_SIZE"] = str(queue_size)
        with app_process(env, cache=make_cache(Path(tmp), checkpoint)) as app:
            yield app


# ---------------------------------------------------------------------------------------------- the client


class Refused(Exception):
    """The app answered the POST that queues a call with an HTTP error (e.g. 503 when the queue is full)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Request:
    """One API call: which endpoint, which photo, and the parameters that vary between calls."""

    endpoint: str
    photo: str
    topk: int = 5
    stage: str = "stage6"

    def data(self, image: dict, checkpoint: str, path: str) -> list:
        if self.endpoint == "classify":
            return [image, checkpoint, self.topk, path]
        return [image, checkpoint, self.stage, -1, 0.5, "jet"]


@dataclass
class Outcome:
    endpoint: str
    ok: bool
    ms: float
    error: str | None = None
    status: int | None = None
    """The HTTP status of a refused call (None when the call was queued)."""


class ApiClient:
    """One client of the app's REST API on its own HTTP connection (Gradio's documented "call" protocol)."""

    def __init__(self, url: str, checkpoint: str, path: str = "fast", timeout: float = 120):
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.checkpoint = checkpoint
        self.path = path
        self.timeout = timeout

    def close(self) -> None:
        self.http.close()

    def upload(self, photo: str) -> dict:
        r = self.http.post("gradio_api/upload", files={"files": (photo, PHOTOS[photo], "image/jpeg")})
        r.raise_for_status()
        return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}

    def submit(self, request: Request, image: dict) -> str:
        """Queue the call; its event id. Raises :class:`Refused` on an HTTP error (the queue's answer)."""
        r = self.http.post(
            f"gradio_api/call/{request.endpoint}", json={"data": request.data(image, self.checkpoint, self.path)}
        )
        if r.status_code != 200:
            raise Refused(r.status_code, r.text)
        return r.json()["event_id"]

    def result(self, endpoint: str, event_id: str) -> list:
        """Read the event stream to its end: the outputs, or RuntimeError on ``error`` (heartbeats skipped)."""
        return rest_result(self.http, endpoint, event_id, self.timeout)

    def check(self, request: Request, out: Any) -> None:
        """Raise ValueError unless ``out`` is what the endpoint promises (see the module docstring)."""
        if not isinstance(out, list) or len(out) != 3:
            raise ValueError(f"expected 3 outputs, got {out!r:.200}")
        if request.endpoint == "classify":
            label, timing, choices = out
            confidences = label.get("confidences") if isinstance(label, dict) else None
            if not confidences or len(confidences) != request.topk or label.get("label") != confidences[0]["label"]:
                raise ValueError(f"/classify: expected the top-{request.topk} labels, got {label!r:.200}")
            probs = [c["confidence"] for c in confidences]
            if not all(0 <= p <= 1 for p in probs) or probs != sorted(probs, reverse=True):
                raise ValueError(f"/classify: confidences not sorted probabilities: {probs}")
            if not isinstance(timing, str) or " ms" not in timing or self.checkpoint not in timing:
                raise ValueError(f"/classify: timing text {timing!r:.200}")
            if not isinstance(choices, dict) or len(choices.get("choices", [])) != request.topk + 1:
                raise ValueError(f"/classify: Grad-CAM class choices {choices!r:.200}")
        else:
            overlay, crop, caption = out
            if not all(isinstance(x, dict) and x.get("url") for x in (overlay, crop)):
                raise ValueError(f"/gradcam: expected two images, got {overlay!r:.100} and {crop!r:.100}")
            if not isinstance(caption, str) or request.stage not in caption:
                raise ValueError(f"/gradcam: caption {caption!r:.200} does not name {request.stage}")
            image = self.http.get(overlay["url"])
            image.raise_for_status()
            if not image.content.startswith(b"\xff\xd8"):
                raise ValueError("/gradcam: the overlay is not a JPEG")

    def run(self, request: Request) -> Outcome:
        """Upload, call, result and check, timed as the client sees it; any exception is a failure."""
        start = time.perf_counter()
        try:
            event = self.submit(request, self.upload(request.photo))
            self.check(request, self.result(request.endpoint, event))
        except Refused as exc:
            return Outcome(request.endpoint, False, _ms(start), str(exc), exc.status)
        except Exception as exc:
            return Outcome(request.endpoint, False, _ms(start), f"{type(exc).__name__}: {exc}")
        return Outcome(request.endpoint, True, _ms(start))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1e3, 1)


def plan(client: int, count: int, stages: list[str]) -> list[Request]:
    """``count`` requests of one client: endpoints alternate, photos, top-k and stages cycle."""
    photos = list(PHOTOS)
    requests = []
    for j in range(count):
        n = client + j
        topk = 1 + (client * count + j) % 10
        requests.append(Request(ENDPOINTS[n % 2], photos[n % len(photos)], topk, stages[n % len(stages)]))
    return requests


# ------------------------------------------------------------------------------------------------ the runs


def latency_summary(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    """p50 / p95 / max latency (ms) of successful requests, per endpoint and overall."""
    groups = {name: [o.ms for o in outcomes if o.ok and o.endpoint == name] for name in ENDPOINTS}
    groups["all"] = [o.ms for o in outcomes if o.ok]
    summary = {}
    for name, ms in groups.items():
        if not ms:
            continue
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
        summary[name] = {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1)}
        summary[name]["max_ms"] = round(max(ms), 1)
    return summary


def failures(outcomes: list[Outcome]) -> list[dict]:
    return [asdict(o) for o in outcomes if not o.ok]


def warm_up(app: AppProcess, checkpoint: str, path: str, stages: list[str]) -> float:
    """One request per endpoint before anything is measured: the first loads the weights. Seconds taken."""
    start = time.perf_counter()
    client = ApiClient(app.url, checkpoint, path)
    try:
        for request in plan(0, 2, stages):
            outcome = client.run(request)
            if not outcome.ok:
                raise RuntimeError(f"warm-up /{request.endpoint} failed: {outcome.error}\n{app.log_tail()}")
    finally:
        client.close()
    return time.perf_counter() - start


def run_load(app: AppProcess, checkpoint: str, clients: int, requests: int, path: str, stages: list[str]) -> dict:
    """All clients released at once, each making its requests back to back; the app's memory around it."""
    before = app.rss_mb()
    pool_clients = [ApiClient(app.url, checkpoint, path) for _ in range(clients)]  # set up outside the timing
    released: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: released.append(time.perf_counter()))

    def client_run(i: int) -> list[Outcome]:
        barrier.wait()
        return [pool_clients[i].run(r) for r in plan(i, requests, stages)]

    try:
        with ThreadPoolExecutor(clients) as pool:
            outcomes = [o for per_client in pool.map(client_run, range(clients)) for o in per_client]
        wall = time.perf_counter() - released[0]
    finally:
        for client in pool_clients:
            client.close()
    memory = app.memory_mb()
    return {
        "clients": clients,
        "requests_per_client": requests,
        "requests": len(outcomes),
        "failed": len(failures(outcomes)),
        "failures": failures(outcomes)[:10],
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(outcomes) / wall, 2),
        "mean_in_flight": round(sum(o.ms for o in outcomes) / 1e3 / wall, 1),
        "latency": latency_summary(outcomes),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(memory["VmRSS"], 1),
        "peak_rss_mb": round(memory["VmHWM"], 1),
    }


@dataclass
class Drive:
    """What :func:`drive` saw: the normal clients' outcomes, the abusive acts, and ``(seconds, RSS MB, disk MB)``
    samples of the app."""

    outcomes: list[Outcome]
    acts: list[abuse.Act]
    samples: list[tuple[float, float, float]]

    @property
    def wall(self) -> float:
        return self.samples[-1][0]


def drive(
    app: AppProcess,
    checkpoint: str,
    seconds: float,
    clients: int,
    path: str,
    stages: list[str],
    every: float,
    abusers: int = 0,
    pause_s: float = 1.0,
) -> Drive:
    """``clients`` clients loop over their requests for ``seconds`` (and ``abusers`` abusive clients over
    :func:`effnetv2.testing.abuse.abuse`, ``pause_s`` apart) while the app's VmRSS and disk use are sampled."""
    stop = threading.Event()
    outcomes: list[Outcome] = []
    acts: list[abuse.Act] = []
    lock = threading.Lock()

    def client_loop(i: int) -> None:
        client = ApiClient(app.url, checkpoint, path)
        try:
            todo = plan(i, 60, stages)  # a long cycle: every photo, top-k and stage combination comes round
            n = 0
            while not stop.is_set():
                outcome = client.run(todo[n % len(todo)])
                n += 1
                with lock:
                    outcomes.append(outcome)
        finally:
            client.close()

    def abuser_loop(i: int) -> None:
        n = i  # abusers start at different points of the cycle
        while not stop.is_set():
            act = abuse.abuse(app.url, n)
            n += 1
            with lock:
                acts.append(act)
            stop.wait(pause_s)

    def sample(t: float) -> tuple[float, float, float]:
        return t, app.rss_mb(), app.temp_mb()

    samples: list[tuple[float, float, float]] = []
    start = time.perf_counter()
    with ThreadPoolExecutor(clients + abusers) as pool:
        futures = [pool.submit(client_loop, i) for i in range(clients)]
        futures += [pool.submit(abuser_loop, i) for i in range(abusers)]
        while (t := time.perf_counter() - start) < seconds:
            samples.append(sample(t))
            stop.wait(min(every, max(seconds - t, 0)))
        stop.set()
        for f in futures:
            f.result()  # in-flight requests finish; a client's own exception would surface here
    samples.append(sample(time.perf_counter() - start))
    return Drive(outcomes, acts, samples)


def _normal_summary(*runs: Drive) -> dict:
    """The normal clients' figures over one or more runs together."""
    outcomes = [o for run in runs for o in run.outcomes]
    wall = sum(run.wall for run in runs)
    return {
        "seconds": round(wall, 1),
        "requests": len(outcomes),
        "failed": len(failures(outcomes)),
        "failures": failures(outcomes)[:10],
        "throughput_rps": round(len(outcomes) / wall, 2),
        "latency": latency_summary(outcomes),
    }


def run_soak(
    app: AppProcess,
    checkpoint: str,
    seconds: float,
    clients: int,
    path: str,
    stages: list[str],
    every: float,
    max_slope: float,
) -> dict:
    """``clients`` clients loop over their requests for ``seconds`` while the app's VmRSS is sampled."""
    run = drive(app, checkpoint, seconds, clients, path, stages, every)
    return {
        **_normal_summary(run),
        "clients": clients,
        **judge_rss([(t, rss) for t, rss, _ in run.samples], max_slope),
        "peak_rss_mb": round(app.memory_mb()["VmHWM"], 1),
    }


def run_abuse(
    app: AppProcess,
    checkpoint: str,
    seconds: float,
    clients: int,
    abusers: int,
    path: str,
    stages: list[str],
    budget_mb: float,
    max_ratio: float,
) -> dict:
    """``clients`` normal clients for ``seconds`` alone, as long with ``abusers`` abusive clients beside them, and
    as long alone again (so that a drift of the machine's other load does not read as the abuse's effect): the
    normal clients' p95 alone (both parts) and with abuse, their failures, the abusive acts answered otherwise
    than they should be, and the app's disk use against its budget."""
    before = drive(app, checkpoint, seconds, clients, path, stages, every=1)
    mixed = drive(app, checkpoint, seconds, clients, path, stages, every=1, abusers=abusers)
    after = drive(app, checkpoint, seconds, clients, path, stages, every=1)
    base, abused = _normal_summary(before, after), _normal_summary(mixed)
    p95 = base["latency"]["all"]["p95_ms"], abused["latency"]["all"]["p95_ms"]
    kinds: dict[str, int] = {}
    for act in mixed.acts:
        kinds[act.kind] = kinds.get(act.kind, 0) + 1
    unexpected = [asdict(a) for a in mixed.acts if not a.expected]
    disk_max = max(d for run in (before, mixed, after) for _, _, d in run.samples)
    result = {
        "clients": clients,
        "abusers": abusers,
        "without_abuse": base,
        "with_abuse": abused,
        "p95_ratio": round(p95[1] / p95[0], 2),
        "max_p95_ratio": max_ratio,
        "acts": kinds,
        "unexpected_answers": unexpected[:10],
        "disk_max_mb": round(disk_max, 1),
        "disk_budget_mb": budget_mb,
        "rss_mb": [round(before.samples[0][1], 1), round(after.samples[-1][1], 1)],
        "alive": app.proc.poll() is None,
    }
    result["passed"] = bool(
        not base["failed"]
        and not abused["failed"]
        and not unexpected
        and result["p95_ratio"] <= max_ratio
        and disk_max <= budget_mb
        and result["alive"]
    )
    return result


def _slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    return statistics.linear_regression([t for t, _ in samples], [r for _, r in samples]).slope * 60


def judge_rss(samples: list[tuple[float, float]], max_slope: float) -> dict:
    """The soak's verdict on an RSS trace of ``(seconds, MB)`` samples: flat when the least-squares slope over the
    second half is at most ``max_slope`` MB/min (see the module docstring); the figures beside it."""
    rss = [r for _, r in samples]
    second_half = [(t, r) for t, r in samples if t >= samples[-1][0] / 2]
    late_slope = _slope_mb_per_min(second_half) if len(second_half) >= 3 else float("inf")
    growth = rss[-1] - rss[0]
    return {
        "samples": len(samples),
        "rss_start_mb": round(rss[0], 1),
        "rss_end_mb": round(rss[-1], 1),
        "rss_max_mb": round(max(rss), 1),
        "rss_min_mb": round(min(rss), 1),
        "rss_max_at_s": round(samples[rss.index(max(rss))][0], 1),
        "growth_mb": round(growth, 1),
        "growth_pct": round(100 * growth / rss[0], 2),
        "slope_mb_per_min": round(_slope_mb_per_min(samples), 2),
        "second_half_slope_mb_per_min": round(late_slope, 2),
        "max_slope_mb_per_min": max_slope,
        "flat": late_slope <= max_slope,
        "rss_trace_mb": [[round(t, 1), round(r, 1)] for t, r in samples],
    }


def run_queue_check(
    app: AppProcess, checkpoint: str, queue_size: int, burst: int, path: str, stages: list[str]
) -> dict:
    """A burst of simultaneous /gradcam calls (the slowest request, so the queue stays full) against a small queue.

    Every client uploads first, so that only the POSTs that queue the calls come at the same instant.
    """
    request = Request("gradcam", next(iter(PHOTOS)), stage=stages[-2])
    clients = [ApiClient(app.url, checkpoint, path) for _ in range(burst)]
    try:
        images = [c.upload(request.photo) for c in clients]
        barrier = threading.Barrier(burst)

        def fire(i: int) -> Outcome:
            barrier.wait()
            start = time.perf_counter()
            try:
                event = clients[i].submit(request, images[i])
            except Refused as exc:
                return Outcome(request.endpoint, False, _ms(start), exc.body, exc.status)
            except Exception as exc:
                return Outcome(request.endpoint, False, _ms(start), f"{type(exc).__name__}: {exc}")
            try:
                clients[i].check(request, clients[i].result(request.endpoint, event))
            except Exception as exc:
                return Outcome(request.endpoint, False, _ms(start), f"accepted, then {type(exc).__name__}: {exc}")
            return Outcome(request.endpoint, True, _ms(start))

        with ThreadPoolExecutor(burst) as pool:
            outcomes = list(pool.map(fire, range(burst)))
    finally:
        for c in clients:
            c.close()
    refused = [o for o in outcomes if o.status is not None]
    polite = [o for o in refused if o.status == 503 and "queue is full" in (o.error or "").lower()]
    accepted = [o for o in outcomes if o.status is None]
    after_client = ApiClient(app.url, checkpoint, path)
    try:
        after = [after_client.run(r) for r in plan(0, 2, stages)]
    finally:
        after_client.close()
    result = {
        "queue_size": queue_size,
        "burst": burst,
        "accepted": len(accepted),
        "accepted_completed": sum(o.ok for o in accepted),
        "refused": len(refused),
        "refused_politely": len(polite),
        "refusal": refused[0].error if refused else None,
        "refusal_status": refused[0].status if refused else None,
        "other_failures": [asdict(o) for o in accepted if not o.ok] + [asdict(o) for o in refused if o not in polite],
        "after_burst_ok": all(o.ok for o in after),
        "after_burst": [asdict(o) for o in after],
    }
    result["passed"] = bool(
        polite
        and len(polite) == len(refused)
        and result["accepted_completed"] == len(accepted) > 0
        and result["after_burst_ok"]
    )
    return result


# -------------------------------------------------------------------------------------------------- report


def _latency_lines(latency: dict) -> list[str]:
    lines = [f"  {'endpoint':<10}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
    for name, s in latency.items():
        lines.append(f"  {'/' + name if name != 'all' else 'all':<10}{s['n']:>5}{s['p50_ms']:>10.1f}")
        lines[-1] += f"{s['p95_ms']:>10.1f}{s['max_ms']:>10.1f}"
    return lines


def _failure_lines(result: dict) -> list[str]:
    return [f"  FAILED /{f['endpoint']} after {f['ms']:.0f} ms: {f['error']}" for f in result["failures"]]


def report(result: dict) -> str:
    """The readable summary of the JSON result."""
    lines = [
        f"EffNetV2 Explorer under load: {result['checkpoint']}, path {result['path']}, {result['cpus']} CPUs "
        f"(1-min load average {result['loadavg_before']:.2f} before, {result['loadavg_after']:.2f} after)"
    ]
    if "startup_s" in result:
        lines.append(f"app start-up to first page {result['startup_s']:.1f} s; warm-up {result['warmup_s']:.1f} s")
    if load := result.get("load"):
        lines.append(
            f"load: {load['clients']} concurrent clients x {load['requests_per_client']} requests = "
            f"{load['requests']} requests, {load['failed']} failed; wall {load['wall_s']:.1f} s, "
            f"throughput {load['throughput_rps']:.2f} requests/s; on average {load['mean_in_flight']:.1f} requests "
            "in flight"
        )
        lines += _latency_lines(load["latency"]) + _failure_lines(load)
        lines.append(
            f"app memory: RSS {result['rss_idle_mb']:.0f} MB after start-up, {load['rss_before_mb']:.0f} MB before "
            f"the load (warm), {load['rss_after_mb']:.0f} MB after; peak RSS (VmHWM) {load['peak_rss_mb']:.0f} MB"
        )
    if soak := result.get("soak"):
        lines.append(
            f"soak: {soak['seconds']:.0f} s, {soak['clients']} clients, {soak['requests']} requests, "
            f"{soak['failed']} failed, {soak['throughput_rps']:.2f} requests/s"
        )
        lines += _latency_lines(soak["latency"]) + _failure_lines(soak)
        lines.append(
            f"  RSS every ~{result['sample_s']:g} s ({soak['samples']} samples): start {soak['rss_start_mb']:.1f} MB, "
            f"end {soak['rss_end_mb']:.1f} MB, min {soak['rss_min_mb']:.1f} MB, max {soak['rss_max_mb']:.1f} MB at "
            f"{soak['rss_max_at_s']:.0f} s; growth {soak['growth_mb']:+.1f} MB ({soak['growth_pct']:+.2f} %); slope "
            f"{soak['slope_mb_per_min']:+.2f} MB/min over the run, {soak['second_half_slope_mb_per_min']:+.2f} MB/min "
            f"over its second half (at most {soak['max_slope_mb_per_min']:g}): {'flat' if soak['flat'] else 'NOT FLAT'}"
            f"; peak RSS {soak['peak_rss_mb']:.0f} MB"
        )
        if result.get("trace"):
            lines += [f"    {t:7.1f} s {r:8.1f} MB" for t, r in soak["rss_trace_mb"]]
    if result.get("gradio_temp_mb") is not None:
        lines.append(f"Gradio's upload/output folder at the end: {result['gradio_temp_mb']:.1f} MB on disk")
    if q := result.get("queue_check"):
        lines.append(
            f"queue check: max_size {q['queue_size']}, {q['burst']} simultaneous /gradcam calls: {q['accepted']} "
            f"accepted ({q['accepted_completed']} completed), {q['refused']} refused "
            f"({q['refused_politely']} with HTTP 503 'queue is full'); request after the burst: "
            f"{'ok' if q['after_burst_ok'] else 'FAILED'}: {'passed' if q['passed'] else 'FAILED'}"
        )
        if q["refusal"]:
            lines.append(f"  refusal: HTTP {q['refusal_status']} {q['refusal']}")
        lines += [f"  FAILED: {f}" for f in q["other_failures"]]
    if a := result.get("abuse"):
        lines += _abuse_lines(a)
    lines.append("OK" if result["ok"] else "FAILED")
    return "\n".join(lines)


def _abuse_lines(a: dict) -> list[str]:
    base, abused = a["without_abuse"], a["with_abuse"]
    lines = []
    for name, run in (("without abuse", base), (f"with {a['abusers']} abusive clients", abused)):
        lines.append(
            f"abuse run, {a['clients']} normal clients {name}: {run['seconds']:.0f} s, {run['requests']} requests, "
            f"{run['failed']} failed, {run['throughput_rps']:.2f} requests/s"
        )
        lines += _latency_lines(run["latency"]) + _failure_lines(run)
    acts = ", ".join(f"{kind} x{n}" for kind, n in a["acts"].items())
    lines.append(f"  abusive acts: {acts}; answered otherwise than they should be: {len(a['unexpected_answers'])}")
    lines += [f"    UNEXPECTED {u['kind']}: {u['detail']}" for u in a["unexpected_answers"]]
    lines.append(
        f"  normal p95 with abuse / without: {a['p95_ratio']:.2f} (at most {a['max_p95_ratio']:g}); disk of the "
        f"app's temp folder at most {a['disk_max_mb']:.1f} MB (budget {a['disk_budget_mb']:g} MB); RSS "
        f"{a['rss_mb'][0]:.0f} MB before, {a['rss_mb'][1]:.0f} MB after; server "
        f"{'alive' if a['alive'] else 'GONE'}: {'passed' if a['passed'] else 'FAILED'}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--path", default="fast", choices=["fast", "fp32", "plain"], help="/classify's path")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--soak", type=float, default=0, metavar="SECONDS", help="soak for this long after the load")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--sample", type=float, default=5, help="seconds between RSS samples in the soak")
    parser.add_argument(
        "--max-slope", type=float, default=1, help="largest RSS slope (MB/min) over the soak's second half"
    )
    parser.add_argument("--trace", action="store_true", help="print the soak's RSS samples")
    parser.add_argument("--queue-check", action="store_true", help="check the full queue's refusal (no load run)")
    parser.add_argument("--queue-size", type=int, default=2, help="EFFNETV2_QUEUE_SIZE for the queue check")
    parser.add_argument("--burst", type=int, default=12, help="simultaneous calls in the queue check")
    parser.add_argument(
        "--abuse", type=float, default=0, metavar="SECONDS", help="normal clients alone, then beside abusive ones"
    )
    parser.add_argument("--abusers", type=int, default=2, help="abusive clients in the abuse run")
    parser.add_argument("--abuse-clients", type=int, default=4, help="normal clients in the abuse run")
    parser.add_argument("--max-p95-ratio", type=float, default=2, help="normal p95 with abuse / without, at most")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from effnetv2.backend import limits
    from effnetv2.backend.classify import cam_choices

    stages = cam_choices(args.checkpoint)
    result: dict[str, Any] = {"checkpoint": args.checkpoint, "path": args.path, "cpus": os.cpu_count()}
    result["loadavg_before"] = round(os.getloadavg()[0], 2)  # other work on the machine skews every figure
    budget_mb = limits.UPLOAD_BUDGET_MB  # given to the app explicitly, so that the report's budget is its own
    settings = {"EFFNETV2_UPLOAD_BUDGET_MB": str(budget_mb)}
    with running_app(args.checkpoint, args.queue_size if args.queue_check else None, settings) as app:
        result["startup_s"] = round(app.startup_s, 2)
        result["rss_idle_mb"] = round(app.rss_mb(), 1)
        result["warmup_s"] = round(warm_up(app, args.checkpoint, args.path, stages), 2)
        if args.queue_check:
            result["queue_check"] = run_queue_check(
                app, args.checkpoint, args.queue_size, args.burst, args.path, stages
            )
        elif args.abuse > 0:
            result["abuse"] = run_abuse(
                app, args.checkpoint, args.abuse, args.abuse_clients, args.abusers, args.path, stages, budget_mb,
                args.max_p95_ratio,
            )  # fmt: skip
        else:
            result["load"] = run_load(app, args.checkpoint, args.clients, args.requests, args.path, stages)
        if args.soak > 0 and not args.queue_check and not args.abuse:
            result["sample_s"], result["trace"] = args.sample, args.trace
            result["soak"] = run_soak(
                app, args.checkpoint, args.soak, args.soak_clients, args.path, stages, args.sample, args.max_slope
            )
        result["gradio_temp_mb"] = round(app.temp_mb(), 1)
        failed = any(result.get(k, {}).get("failed") for k in ("load", "soak"))
        if failed or not result.get("abuse", {}).get("passed", True):
            result["app_log_tail"] = app.log_tail()
    result["loadavg_after"] = round(os.getloadavg()[0], 2)
    result["ok"] = (
        all(not result[k]["failed"] for k in ("load", "soak") if k in result)
        and result.get("soak", {}).get("flat", True)
        and result.get("queue_check", {}).get("passed", True)
        and result.get("abuse", {}).get("passed", True)
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(report(result))
        if "app_log_tail" in result:
            print("app log (tail):\n" + result["app_log_tail"])
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
