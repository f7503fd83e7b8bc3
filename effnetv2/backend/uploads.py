"""Disk bounds: the app's own folder for uploads and returned images, kept under a size and age budget and
removed at shutdown; an upload is read whole before the web framework sees it, so one cut off midway leaves
nothing behind.

Why: Gradio keeps every upload and every image it returns in ``GRADIO_TEMP_DIR`` for good (not even removed at
shutdown), and its multipart parser writes each upload to a spool file in that folder that it deletes only on a
parse error: a client that drops mid-upload left its spool file behind (issue 15: three cut-off 9.5 MB uploads
left 28.5 MB). Here:

- :func:`claim_temp_dir` gives the process a fresh folder of its own (inside ``GRADIO_TEMP_DIR`` or the system's
  temp folder), which ``app.py`` makes Gradio's ``GRADIO_TEMP_DIR``: removing it at shutdown removes only the
  app's files;
- :class:`DiskBudget` prunes that folder: files older than the age budget go, then the oldest until the folder
  is within its size budget (files younger than :data:`KEEP_S`, which a queued request may be about to read,
  and the files the app made before serving, such as the examples' copies, are spared);
- :class:`UploadGate`, an ASGI middleware, refuses an upload larger than the file limit before reading it,
  refuses one that would not fit the budget, reserves room as its bytes arrive (not what it announces: a client
  that stalls holds what it sent), and reads the body into its own anonymous buffer (freed when the client goes
  away or stalls) before handing it on; the budget counts the folder by a walk only when a reservation might not
  fit, and at each pruning (:attr:`DiskBudget._used`), not at every reservation;
- :func:`lifespan` prunes every :attr:`DiskBudget.every_s` while the server runs and removes the folder when it
  stops (``app.main`` turns SIGTERM into that orderly stop).

Free of Gradio: the gate and the lifespan speak plain ASGI, so the settings live in
:mod:`effnetv2.backend.limits` and ``effnetv2.ui.app_kwargs`` hands both to the web app.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import limits

TEMP_PREFIX = "effnetv2-app-"
KEEP_S = 60.0
"""Files younger than this are never deleted to make room: a queued request may be about to read its upload."""
BUFFER_IN_MEMORY = 1 << 20
"""Bytes of an upload held in memory while it arrives; the rest goes to an anonymous (already unlinked) file."""
MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart headers around the one file an upload request carries."""
RESERVE_STEP = 64 * 1024
"""An upload reserves room in the budget as its bytes arrive, this much at a time: a client that announces 10 MB
and then stalls holds what it sent, not 10 MB (fifty such clients used to fill a 500 MB budget for everyone)."""
UPLOAD_PATH_SUFFIX = "/upload"
"""Gradio's upload route (``/gradio_api/upload``)."""

_claimed: Path | None = None


def claim_temp_dir() -> Path:
    """The app's own temporary folder, made once per process: ``app.py`` points ``GRADIO_TEMP_DIR`` at it before
    it imports Gradio (which reads it then, and when it makes each component and the web app). The folder is a
    fresh one inside the deployer's ``GRADIO_TEMP_DIR`` (or the system's temp folder), so that removing it at
    shutdown (also at exit, should the server not stop in order) removes nothing else.
    """
    global _claimed
    if _claimed is None:
        parent = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        _claimed = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent)).resolve()
        atexit.register(shutil.rmtree, _claimed, ignore_errors=True)
    return _claimed


@dataclass(frozen=True)
class Pruned:
    """What one pruning pass did."""

    removed: int
    freed_bytes: int
    used_bytes: int
    """What the folder holds after the pass."""


def _files(folder: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every regular file under ``folder``; files that vanish meanwhile are skipped."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            with contextlib.suppress(FileNotFoundError):
                st = path.lstat()
                if not path.is_symlink():
                    found.append((st.st_mtime, st.st_size, path))
    return found


@dataclass
class DiskBudget:
    """A folder kept within ``budget_bytes`` and ``max_age_s``, with room reserved for uploads in flight."""

    folder: Path
    budget_bytes: int
    max_age_s: float
    keep_s: float = KEEP_S
    kept: frozenset[Path] = frozenset()
    """Files never pruned: those the app made before it served anyone (see :meth:`keep_existing`)."""
    _reserved: int = 0
    _used: int | None = None
    """The folder's bytes as last counted (a walk of the folder: at the first reservation, at every pruning) plus
    the uploads stored since: a reservation is a sum, and the folder is walked again only when it might not fit."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_limits(cls, folder: Path) -> DiskBudget:
        """The budget the app runs with (``EFFNETV2_UPLOAD_BUDGET_MB``, ``EFFNETV2_UPLOAD_MAX_AGE_S``)."""
        return cls(folder, limits.UPLOAD_BUDGET_MB * 2**20, float(limits.UPLOAD_MAX_AGE_S))

    @property
    def every_s(self) -> float:
        """How often the folder is pruned: a quarter of the age budget, between 1 s and a minute."""
        return min(60.0, max(1.0, self.max_age_s / 4))

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in _files(self.folder))

    def keep_existing(self) -> None:
        """Spare the files the folder holds now (at start-up: the examples' and initial values' copies)."""
        self.kept = frozenset(path for _, _, path in _files(self.folder))

    def prune(self, now: float | None = None, need: int = 0) -> Pruned:
        """Delete files past the age budget, then the oldest (but not the young ones) until within the size
        budget less the room reserved for uploads in flight and ``need`` bytes more; then empty folders."""
        now = time.time() if now is None else now
        files = sorted(_files(self.folder))
        removed = freed = 0
        used = sum(size for _, size, _ in files)
        room = self.budget_bytes - self._reserved - need
        for mtime, size, path in files:
            age = now - mtime
            expired, over = age > self.max_age_s, used > room and age > self.keep_s
            if path in self.kept or not (expired or over):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed, freed, used = removed + 1, freed + size, used - size
        self._used = used
        for root, dirs, names in os.walk(self.folder, topdown=False):
            if not dirs and not names and Path(root) != self.folder:
                with contextlib.suppress(OSError):
                    if now - os.stat(root).st_mtime > self.keep_s:  # not one Gradio has just made to write into
                        os.rmdir(root)  # only if still empty
        return Pruned(removed, freed, used)

    def reserve(self, size: int) -> bool:
        """Room for ``size`` more bytes of an upload, pruning first if need be; False when they do not fit."""
        with self._lock:
            if self._used is None:
                self._used = self.used_bytes()
            if self._used + self._reserved + size > self.budget_bytes:
                self.prune(need=size)
            if self._used + self._reserved + size > self.budget_bytes:
                return False
            self._reserved += size
            return True

    def fits(self, size: int) -> bool:
        """Whether ``size`` more bytes would fit now (pruning first if need be), reserving nothing."""
        if not self.reserve(size):
            return False
        self.release(size)
        return True

    def release(self, size: int, stored: int = 0) -> None:
        """Give back ``size`` reserved bytes; ``stored`` of them are now a file in the folder (the upload landed)."""
        with self._lock:
            self._reserved -= size
            if self._used is not None:
                self._used += stored

    def remove(self) -> None:
        """Delete the folder and everything in it (at shutdown)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def lifespan(budget: DiskBudget) -> Callable[[Any], contextlib.AbstractAsyncContextManager]:
    """A web app's lifespan: prune ``budget`` periodically while serving, remove its folder at shutdown."""

    async def prune_forever() -> None:
        while True:
            await asyncio.sleep(budget.every_s)
            await asyncio.to_thread(budget.prune)

    @contextlib.asynccontextmanager
    async def span(app: Any) -> AsyncIterator[None]:
        budget.folder.mkdir(parents=True, exist_ok=True)
        budget.keep_existing()
        task = asyncio.create_task(prune_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            budget.remove()

    return span


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


FULL = "the server's space for uploads is full: try again in a minute"


class _Refusal(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _ClientGone(Exception):
    """The client disconnected before its upload was complete."""


class UploadGate:
    """ASGI middleware in front of the upload route: size limit before reading, disk budget, whole body first.

    The refusals are one plain-text line with HTTP 413 (too large), 507 (no room within the budget) or 408 (the
    upload stalled past ``timeout_s``). A client that disconnects mid-upload gets nothing, and nothing of its
    bytes stays: they were only ever in this middleware's buffer.
    """

    def __init__(self, app: Callable, *, budget: DiskBudget, max_bytes: int, timeout_s: float):
        self.app = app
        self.budget = budget
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD
        self.too_large = f"the upload exceeds the maximum file size of {_human(max_bytes)}"
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD_PATH_SUFFIX):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        try:
            if declared is not None and declared > self.max_bytes:
                raise _Refusal(413, self.too_large)
            if declared is not None and not await asyncio.to_thread(self.budget.fits, declared):
                raise _Refusal(507, FULL)  # it would not fit even if every byte came: said before any is sent
            with tempfile.SpooledTemporaryFile(BUFFER_IN_MEMORY, dir=self.budget.folder) as body:
                size, reserved = await self._read(receive, body)
                body.seek(0)
                try:
                    await self.app(scope, _replay(body, size, receive), send)
                except BaseException:
                    self.budget.release(reserved)
                    raise
                self.budget.release(reserved, stored=size)  # a file in the folder now: counted until the next walk
        except _Refusal as exc:
            await _plain_response(send, exc.status, str(exc))
        except _ClientGone:
            return

    async def _read(self, receive: Receive, body: IO[bytes]) -> tuple[int, int]:
        """The whole request body into ``body``, room reserved as it arrives: its size, and the bytes reserved."""
        deadline = time.monotonic() + self.timeout_s
        size = reserved = 0
        try:
            while True:
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0))
                except asyncio.TimeoutError:
                    raise _Refusal(408, f"the upload took longer than {self.timeout_s:g} s") from None
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_bytes:
                    raise _Refusal(413, self.too_large)
                if size > reserved:
                    step = max(RESERVE_STEP, size - reserved)
                    if not await asyncio.to_thread(self.budget.reserve, step):
                        raise _Refusal(507, FULL)
                    reserved += step
                body.write(chunk)
                if not message.get("more_body", False):
                    return size, reserved
        except BaseException:  # refused, gone, or cancelled (the server stopping): the room goes back
            self.budget.release(reserved)
            raise


def _human(size: int) -> str:
    for unit, factor in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: IO[bytes], size: int, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body again, then whatever the client sends next (a disconnect)."""
    chunk_size = 1 << 20
    sent = 0

    async def replayed() -> Message:
        nonlocal sent
        if sent >= size and sent > 0:
            return await receive()
        chunk = body.read(chunk_size)
        sent += len(chunk) or 1  # an empty body is sent once, as one empty message
        return {"type": "http.request", "body": chunk, "more_body": sent < size}

    return replayed


async def _plain_response(send: Send, status: int, text: str) -> None:
    data = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
