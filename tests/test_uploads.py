"""Disk bounds (issue 15): uploads and Gradio's temporary files stay within a size and age budget, a cut-off
upload leaves nothing, and the app's temporary folder is removed at shutdown. Through ``python app.py``
(effnetv2/testing/appserver.py), plus the pruning rule itself on a folder of dated files.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from effnetv2.backend.uploads import TEMP_PREFIX, DiskBudget
from effnetv2.testing.abuse import cut_off_upload, stalled_upload
from effnetv2.testing.appserver import PHOTO, TEST_CHECKPOINT, AppProcess, app_process, rest_call

KB = 1024


def _app_folder(app: AppProcess) -> Path:
    """The folder the app made for itself inside the GRADIO_TEMP_DIR it was given."""
    (folder,) = app.temp_dir.glob(f"{TEMP_PREFIX}*")
    return folder


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _upload(http: httpx.Client, data: bytes, name: str = "photo.jpg") -> httpx.Response:
    return http.post("gradio_api/upload", files={"files": (name, data, "image/jpeg")})


def _classify(http: httpx.Client, path: str) -> list:
    image = {"path": path, "meta": {"_type": "gradio.FileData"}}
    return rest_call(http, "classify", [image, TEST_CHECKPOINT, 3, "plain"])


def test_three_cut_off_uploads_leave_nothing_and_the_next_upload_works(hf_cache):
    """Gradio spools an upload into its temp folder as it arrives and deletes the spool file only on a parse
    error: three 9.5 MB uploads cut off after 3 MB left 9 MB behind. The app reads an upload whole before Gradio
    sees any of it, so a cut-off upload leaves nothing."""
    with app_process() as app, httpx.Client(base_url=app.url, timeout=120) as http:
        folder = _app_folder(app)
        before = _files(folder)  # the examples' copies, made at start-up
        for _ in range(3):
            cut_off_upload(app.url, declared=9_500_000, sent=3_000_000)
        time.sleep(1)  # the server notices each disconnect
        assert _files(folder) == before
        r = _upload(http, PHOTO.read_bytes())
        assert r.status_code == 200
        label = _classify(http, r.json()[0])[0]
        assert label["confidences"] and app.proc.poll() is None


@pytest.fixture(scope="module")
def small_disk_app(hf_cache):
    """The app with a 2 MB disk budget, 8 s age budget, 300 KB uploads and a 3 s upload timeout, set in its
    environment."""
    env = {
        **os.environ,
        "EFFNETV2_UPLOAD_BUDGET_MB": "2",
        "EFFNETV2_UPLOAD_MAX_AGE_S": "8",
        "EFFNETV2_MAX_FILE_SIZE": "300kb",
        "EFFNETV2_UPLOAD_TIMEOUT_S": "3",
    }
    with app_process(env) as app:
        yield app


def test_uploads_beyond_the_disk_budget_are_refused_in_one_line_until_old_ones_expire(small_disk_app):
    app = small_disk_app
    folder = _app_folder(app)
    budget = 2 * 2**20
    statuses = []
    with httpx.Client(base_url=app.url, timeout=120) as http:
        for i in range(10):  # distinct files: Gradio stores equal contents once
            r = _upload(http, PHOTO.read_bytes()[:1000] + bytes([i]) * (280 * KB), f"p{i}.jpg")
            statuses.append(r.status_code)
            if r.status_code != 200:
                assert (r.status_code, r.text) == (507, "the server's space for uploads is full: try again in a minute")
            assert sum(_files(folder).values()) <= budget
        assert statuses[0] == 200 and 507 in statuses, statuses
        too_big = _upload(http, b"\0" * (400 * KB))
        assert too_big.status_code == 413 and too_big.text == "the upload exceeds the maximum file size of 300 KB"

        # Past the age budget the uploads are pruned (every 2 s here), and a new one fits again.
        def stale() -> list[str]:
            return [name for name in _files(folder) if Path(name).name in {f"p{i}.jpg" for i in range(10)}]

        deadline = time.monotonic() + 60
        while stale() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not stale()
        r = _upload(http, PHOTO.read_bytes())
        assert r.status_code == 200, r.text
        assert _classify(http, r.json()[0])[0]["confidences"]


def test_a_stalled_upload_is_cut_off_after_the_upload_timeout_and_leaves_nothing(small_disk_app):
    """A client that sends part of an upload and then nothing (without closing) holds no buffer for long."""
    folder = _app_folder(small_disk_app)
    before = _files(folder)
    assert stalled_upload(small_disk_app.url, declared=200_000, sent=50_000) == "HTTP/1.1 408 Request Timeout"
    assert set(_files(folder)) <= set(before)  # nothing new (older uploads may expire meanwhile)


def test_shutdown_removes_the_apps_temporary_folder(small_disk_app):
    """SIGTERM (what a platform sends to stop the app) stops the server in order, and its folder goes with it."""
    app = small_disk_app
    folder = _app_folder(app)
    with httpx.Client(base_url=app.url, timeout=120) as http:
        assert _upload(http, PHOTO.read_bytes()).status_code == 200
    assert _files(folder)
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=60) == 0, app.log_tail()
    assert not folder.exists() and not list(app.temp_dir.iterdir())


# -- the pruning rule ----------------------------------------------------------------------------------------------


def _file(folder: Path, name: str, size: int, age_s: float, now: float) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_pruning_drops_expired_files_then_the_oldest_beyond_the_budget_but_spares_young_and_kept_ones(tmp_path):
    now = time.time()
    budget = DiskBudget(tmp_path, budget_bytes=10 * KB, max_age_s=1000, keep_s=60)
    example = _file(tmp_path, "ex/example.jpg", 4 * KB, age_s=5000, now=now)
    budget.keep_existing()
    expired = _file(tmp_path, "a/expired.jpg", 1 * KB, age_s=2000, now=now)
    oldest = _file(tmp_path, "b/oldest.jpg", 3 * KB, age_s=900, now=now)
    older = _file(tmp_path, "c/older.jpg", 3 * KB, age_s=500, now=now)
    young = _file(tmp_path, "d/young.jpg", 3 * KB, age_s=10, now=now)
    # 14 KB in all, budget 10 KB: the expired file goes by age; then the oldest until within the budget.
    pruned = budget.prune(now)
    assert not expired.exists() and not oldest.exists() and older.exists() and young.exists() and example.exists()
    assert pruned.removed == 2 and pruned.freed_bytes == 4 * KB and pruned.used_bytes == 10 * KB
    # Empty folders go too, once older than keep_s (Gradio makes a folder, then moves the upload into it).
    for folder in ("a", "b"):
        assert not any((tmp_path / folder).iterdir())
        os.utime(tmp_path / folder, (now - 100, now - 100))
    budget.prune(now)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and (tmp_path / "c").exists()
    # Room for an upload in flight: young files stay even so, and so do the kept ones.
    assert budget.prune(now, need=6 * KB).removed == 1 and not older.exists() and young.exists() and example.exists()
    assert not budget.reserve(4 * KB) and budget.reserve(3 * KB) and not budget.reserve(1)
    budget.release(3 * KB)
    assert budget.reserve(3 * KB)


def test_a_stalled_upload_holds_the_room_it_received_not_the_room_it_announced(tmp_path, monkeypatch):
    """Five clients announce 1 MB each and stall after 10 KB: before, each reserved its 1 MB, so with a 2 MB budget
    the third was refused and so was every real upload until they timed out; now each holds about what it sent,
    a real 300 KB upload goes through, and the budget's count of the folder is a sum, not a walk per chunk."""
    import asyncio

    from effnetv2.backend import uploads
    from effnetv2.backend.uploads import RESERVE_STEP, UploadGate

    walks = []
    walk = uploads._files
    monkeypatch.setattr(uploads, "_files", lambda folder: walks.append(folder) or walk(folder))
    budget = DiskBudget(tmp_path, budget_bytes=2 * 2**20, max_age_s=3600)

    async def stored(scope, receive, send):  # Gradio's upload route: reads the body, answers 200
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[]"})

    gate = UploadGate(stored, budget=budget, max_bytes=2**20, timeout_s=30)

    def scope(length: int) -> dict:
        return {"type": "http", "method": "POST", "path": "/gradio_api/upload",
                "headers": [(b"content-length", str(length).encode())]}  # fmt: skip

    async def upload(length: int, chunks: list[bytes], stall: bool) -> int:
        queue = [{"type": "http.request", "body": c, "more_body": stall or i < len(chunks) - 1}
                 for i, c in enumerate(chunks)]  # fmt: skip
        statuses = []

        async def receive():
            if queue:
                return queue.pop(0)
            await asyncio.sleep(3600)  # a stalled client: nothing more, never closed

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await gate(scope(length), receive, send)
        return statuses[0]

    async def scenario() -> tuple[int, int, int]:
        stalled = [asyncio.create_task(upload(2**20, [b"x" * 10_000], stall=True)) for _ in range(5)]
        await asyncio.sleep(0.5)
        held = budget._reserved
        status = await asyncio.wait_for(upload(300_000, [b"y" * 300_000], stall=False), 10)
        for task in stalled:
            task.cancel()
        await asyncio.gather(*stalled, return_exceptions=True)
        return held, status, budget._reserved

    held, status, left = asyncio.run(scenario())
    assert held == 5 * RESERVE_STEP and status == 200 and left == 0, (held, status, left)
    # seven reservations (five stalled, the real upload's check and its bytes), one walk of the folder: the
    # stored upload is added to the count, which the next walk (a pruning) corrects
    assert len(walks) == 1 and budget._used == 300_000
