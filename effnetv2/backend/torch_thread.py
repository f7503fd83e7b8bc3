"""One long-lived thread for all torch work of the app.

Why: on CPU, OpenMP thread teams and oneDNN's per-thread state belong to the *calling* thread, and a forward
from a thread that has not run one recently is much slower (measured once: docs/performance.md). Web servers
hand requests to whichever worker thread is free; funnelling torch work through one thread keeps it warm, and
also serialises it, so timings do not disturb each other.

Serialised work must not outlive its client: :func:`run_on_torch_thread` gives each job a cancel token
(:mod:`effnetv2.cancel`) and, while it waits, asks ``abandoned()``; once that says yes the job stops at its next
run or step boundary (or never starts), and the next request gets the thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..cancel import CancelToken, run_with
from ..errors import AbandonedError

T = TypeVar("T")

TORCH_THREAD_NAME = "effnetv2-torch"
ABANDONED_POLL_S = 0.25
"""How often a waiting request asks whether its client is still there."""
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix=TORCH_THREAD_NAME)


def _submit(fn: Callable[..., T], args: tuple, kwargs: dict) -> Future[T]:
    ctx = contextvars.copy_context()  # e.g. Gradio's progress tracking lives in context variables
    return _EXECUTOR.submit(ctx.run, fn, *args, **kwargs)


def on_torch_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` on the torch thread (callers wait; context variables are carried over; nested calls run
    inline)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        if threading.current_thread().name.startswith(TORCH_THREAD_NAME):
            return fn(*args, **kwargs)
        return _submit(fn, args, kwargs).result()

    return wrapper


async def run_on_torch_thread(
    fn: Callable[..., T], *args: Any, abandoned: Callable[[], bool] | None = None, **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)`` on the torch thread, awaited from an event loop.

    A web server runs a *sync* handler on a worker thread, which would then wait for the torch thread: two
    thread hops per request. An async handler awaiting this makes one, and the event loop stays free meanwhile.

    ``abandoned``, asked every :data:`ABANDONED_POLL_S` while the job waits or runs, says whether its client is
    gone; then the job is cancelled (:class:`AbandonedError` once it has stopped). So is it when the awaiting
    task itself is cancelled.
    """
    token = CancelToken()
    job = _submit(run_with, (token, fn, *args), kwargs)
    waiting = asyncio.wrap_future(job)
    try:
        while abandoned is not None and not token.cancelled:
            done, _ = await asyncio.wait({waiting}, timeout=ABANDONED_POLL_S)
            if done:
                break
            if abandoned():
                token.cancel()
                if job.cancel():  # it had not started: it never will
                    raise AbandonedError(f"stopped: {token.reason}")
        return await waiting  # an abandoned job ends at its next boundary, so the thread is free when this returns
    except asyncio.CancelledError:
        token.cancel("its request was cancelled")
        raise
