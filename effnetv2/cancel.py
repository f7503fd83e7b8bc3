"""Stopping work that nobody waits for any more: a token, checked at every run, stage and training step.

Why: the app runs all torch work on one thread, one job at a time. A client that closes its tab during a
``/latency`` of 30 runs at batch 16 left the job running, and the next user waited for it (issue 15: the next
``/classify`` waited 27.7 s). The app's torch thread gives each job a :class:`CancelToken` and cancels it when
the client is gone; the measuring loops (:mod:`effnetv2.profiling`) call :func:`check` between runs, stages and
steps, which raises :class:`~effnetv2.errors.AbandonedError` there. Outside a job (the CLI, the Python API) there is no
token and :func:`check` does nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from .errors import AbandonedError

T = TypeVar("T")


class CancelToken:
    """Set once, from any thread, when the work it belongs to should stop."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "its client went away") -> None:
        self.reason = reason
        self._set.set()

    @property
    def cancelled(self) -> bool:
        return self._set.is_set()


_CURRENT: ContextVar[CancelToken | None] = ContextVar("effnetv2_cancel_token", default=None)


def check() -> None:
    """Raise :class:`AbandonedError` if the current job's token is cancelled; cheap enough for every run."""
    token = _CURRENT.get()
    if token is not None and token.cancelled:
        raise AbandonedError(f"stopped: {token.reason}")


@contextlib.contextmanager
def cancellable(token: CancelToken) -> Iterator[CancelToken]:
    """Within the block, :func:`check` answers to ``token``."""
    reset = _CURRENT.set(token)
    try:
        yield token
    finally:
        _CURRENT.reset(reset)


def run_with(token: CancelToken, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with ``token`` as the current token; stops before starting if already cancelled."""
    with cancellable(token):
        check()
        return fn(*args, **kwargs)
