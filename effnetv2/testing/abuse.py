"""Abusive clients of the app, for the tests and ``bench/load_test.py --abuse``: uploads cut off midway, uploads
larger than the limit, and (see the bench) bad values and long jobs whose client goes away.

Each speaks raw HTTP where a well-behaved client library would not misbehave in that way (a socket closed in the
middle of a request body).
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

UPLOAD_ROUTE = "/gradio_api/upload"
BOUNDARY = "effnetv2-abuse"


def _multipart_head(filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()


def cut_off_upload(url: str, declared: int = 9_500_000, sent: int = 3_000_000, linger_s: float = 0.3) -> None:
    """Start an upload that says it carries ``declared`` bytes, send ``sent`` of them, wait ``linger_s`` (the
    server writes what it got), then close the connection without a word: what a dropped mobile connection or a
    closed browser tab does."""
    parts = urlsplit(url)
    head = _multipart_head("cut.jpg")
    request = (
        f"POST {UPLOAD_ROUTE} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(request + head)
        chunk = b"\xff" * 65536
        left = sent - len(head)
        while left > 0:
            s.sendall(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        time.sleep(linger_s)


def multipart_body(data: bytes, filename: str = "upload.jpg") -> tuple[bytes, str]:
    """A one-file upload body as Gradio's upload route takes it, and its Content-Type."""
    body = _multipart_head(filename) + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"
