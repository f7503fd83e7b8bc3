"""One long-lived thread for all torch work of the app.

Why: on CPU, OpenMP thread teams and oneDNN's per-thread state belong to the *calling* thread, and a forward
from a thread that has not run one recently is much slower (measured once: docs/performance.md). Web servers
hand requests to whichever worker thread is free; funnelling torch work through one thread keeps it warm, and
also serialises it, so timings do not disturb each other.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

TORCH_THREAD_NAME = "effnetv2-torch"
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


async def run_on_torch_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the torch thread, awaited from an event loop.

    A web server runs a *sync* handler on a worker thread, which would then wait for the torch thread: two
    thread hops per request. An async handler awaiting this makes one, and the event loop stays free meanwhile.
    """
    return await asyncio.wrap_future(_submit(fn, args, kwargs))
