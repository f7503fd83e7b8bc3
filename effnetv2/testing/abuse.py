"""Abusive clients of the app, for the tests and ``bench/load_test.py --abuse``: uploads cut off midway, uploads
larger than the limit, and (see the bench) bad values and long jobs whose client goes away.

Each speaks raw HTTP where a well-behaved client library would not misbehave in that way (a socket closed in the
middle of a request body).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from .appserver import rest_result

UPLOAD_ROUTE = "/gradio_api/upload"
BOUNDARY = "effnetv2-abuse"


def _multipart_head(filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()


def _upload_start(url: str, declared: int, filename: str) -> bytes:
    """The start of an upload request that says it carries ``declared`` bytes: its headers and the file part's."""
    parts = urlsplit(url)
    headers = (
        f"POST {UPLOAD_ROUTE} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    return headers + _multipart_head(filename)


def cut_off_upload(url: str, declared: int = 9_500_000, sent: int = 3_000_000, linger_s: float = 0.3) -> None:
    """Start an upload that says it carries ``declared`` bytes, send ``sent`` of them, wait ``linger_s`` (the
    server writes what it got), then close the connection without a word: what a dropped mobile connection or a
    closed browser tab does."""
    parts = urlsplit(url)
    start = _upload_start(url, declared, "cut.jpg")
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(start)
        chunk = b"\xff" * 65536
        left = sent - len(_multipart_head("cut.jpg"))  # of the body
        while left > 0:
            s.sendall(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        time.sleep(linger_s)


@dataclass(frozen=True)
class Act:
    """One abusive request and whether the app answered it as it should (``detail`` says what came back)."""

    kind: str
    expected: bool
    detail: str


def _status_line(url: str, request: bytes) -> str:
    """Send ``request`` (headers and perhaps part of a body) and read the first line of the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(request)
        return s.makefile("rb").readline().decode(errors="replace").strip()


def stalled_upload(url: str, declared: int = 200_000, sent: int = 50_000) -> str:
    """Start an upload, send ``sent`` of its ``declared`` bytes, then neither send more nor close: the status
    line the server answers with (after its upload timeout)."""
    return _status_line(url, _upload_start(url, declared, "stalled.jpg") + b"\xff" * sent)


def stalled_call(url: str, api: str = "latency", declared: int = 1000, sent: int = 10) -> tuple[str, bool]:
    """Start a REST call whose JSON body says it has ``declared`` bytes, send ``sent`` of them, then neither send
    more nor close: the status line the server answers with (after its body timeout), and whether it then closed
    the connection (within 30 s)."""
    parts = urlsplit(url)
    head = (
        f"POST /gradio_api/call/{api} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(head + b'{"data": [' + b" " * max(0, sent - 10))
        answer = s.makefile("rb")
        line = answer.readline().decode(errors="replace").strip()
        try:
            answer.read()  # to the end: the server closed the connection
            closed = True
        except TimeoutError:
            closed = False
    return line, closed


def huge_declared_upload(url: str, declared: int = 2**30) -> Act:
    """An upload that announces 1 GB: refused from its Content-Length (HTTP 413) before any of it is read."""
    line = _status_line(url, _upload_start(url, declared, "huge.jpg"))
    return Act("huge upload (declared 1 GB)", " 413 " in f"{line} ", line)


def huge_streamed_upload(url: str, total: int = 64 * 2**20) -> Act:
    """An upload of 64 MB with no Content-Length (chunked): cut off with HTTP 413 once past the file limit."""

    def body() -> Iterator[bytes]:
        yield _multipart_head("huge.jpg")
        chunk = b"\xff" * 2**20
        for _ in range(total // len(chunk)):
            yield chunk

    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            r = http.post(UPLOAD_ROUTE.lstrip("/"), content=body(), headers=headers)
        return Act("huge upload (streamed 64 MB)", r.status_code == 413, f"HTTP {r.status_code} {r.text[:80]}")
    except httpx.TransportError as exc:  # the server answered and closed while the client was still sending
        return Act("huge upload (streamed 64 MB)", True, f"closed by the server: {type(exc).__name__}")


def cut_off(url: str) -> Act:
    cut_off_upload(url, declared=9_500_000, sent=3_000_000, linger_s=0.2)
    return Act("cut-off upload", True, "no answer expected")


BAD_VALUES: list[tuple[str, list]] = [
    ("latency", ["efficientnetv2_b0", "", 224, 1, 10**6, "cpu", "fp32", "1", "en"]),
    ("latency", ["efficientnetv2_b0", "ZZZZZZ", 224, 1, 1, "cpu", "fp32", "1", "en"]),
    ("latency", ["no_such_model", "", 224, 1, 1, "cpu", "fp32", "1", "en"]),
    ("classify", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "b0", 3, "plain"]),
]
"""Requests that must each end in an error event, never a result or a hang."""


def bad_values(url: str, i: int) -> Act:
    api, data = BAD_VALUES[i % len(BAD_VALUES)]
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post(f"gradio_api/call/{api}", json={"data": data})
        if r.status_code != 200:  # refused before it was queued: also an answer
            return Act(f"bad values (/{api})", r.status_code < 500, f"HTTP {r.status_code}")
        try:
            rest_result(http, api, r.json()["event_id"], timeout=60)
        except RuntimeError as exc:
            return Act(f"bad values (/{api})", "error event" in str(exc), str(exc)[:120])
        return Act(f"bad values (/{api})", False, "a result")


LONG_JOB = ["efficientnetv2_b0", "", 224, 4, 30, "cpu", "fp32", "1", "en"]
"""A /latency of 30 runs at batch 4: many seconds of the torch thread on a small machine."""


def abandoned_job(url: str, wait_s: float = 0.5) -> Act:
    """Start a long /latency, open its event stream, and go away after ``wait_s``."""
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post("gradio_api/call/latency", json={"data": LONG_JOB})
        if r.status_code != 200:
            return Act("abandoned long job", r.status_code == 503, f"HTTP {r.status_code}")
        with http.stream("GET", f"gradio_api/call/latency/{r.json()['event_id']}"):
            time.sleep(wait_s)
    return Act("abandoned long job", True, "dropped")


ABUSES: list[Callable[[str, int], Act]] = [
    lambda url, i: huge_declared_upload(url),
    lambda url, i: huge_streamed_upload(url),
    lambda url, i: cut_off(url),
    bad_values,
    lambda url, i: abandoned_job(url),
]
"""One of each kind, in turn: what :func:`abuse` cycles through."""


def abuse(url: str, i: int) -> Act:
    """The ``i``-th abusive act of the cycle; an exception (the server gone, a hang) is an unexpected answer."""
    act = ABUSES[i % len(ABUSES)]
    try:
        return act(url, i // len(ABUSES))
    except Exception as exc:
        return Act(f"abuse {i % len(ABUSES)}", False, f"{type(exc).__name__}: {exc}"[:200])
