"""A checkpoint's weights fetched from the Hub off the torch thread, so that a download never holds the slot that
every other visitor's torch request waits for.

Why: the app has one torch thread and one Gradio slot for torch events. A request naming a checkpoint not yet
on this server used to download it there (or, with the Hub unreachable, sit through the client's ~23 s of
retries): four requests naming ``xl`` cost the other visitors 89 s while their sender spent 0.14 s. Here the
file is fetched on a thread of its own before the request takes the torch thread: the request that starts a
fetch waits at most :data:`FETCH_WAIT_S` for it (a cached file or a small download completes), and then, like
every request for that checkpoint while the fetch goes on, is answered at once with one line saying to try again.
A fetch the Hub refused answers with its own line, at once, to every request for a minute (``hub.HUB_MEMORY_S``):
a negative cache, so that a Hub that takes 25 s to say "not found" costs one fetch a minute, not one a request.

Free of Gradio: ``effnetv2.ui.torch_event`` awaits :func:`weights_ready` for a handler's ``checkpoint``.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import hub
from ..checkpoints import HubFile, resolve_checkpoint
from ..errors import EffNetV2Error, HubError, HubUnavailableError

FETCH_WAIT_S = 2.0
"""How long the request that starts a fetch waits for it, holding the torch slot's turn (not the torch thread)."""
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="effnetv2-hub")


@dataclass
class _Fetch:
    job: Future
    started: float
    ended: float | None = None

    def failed_lately(self) -> BaseException | None:
        """The Hub's refusal while it is fresh (``hub.HUB_MEMORY_S``): told to the next requests at once, rather
        than each starting a fetch as slow as this one. Only the Hub's answers: a corrupt file in the cache is
        looked at again by the next request (it may have been repaired meanwhile)."""
        if self.ended is None or time.monotonic() - self.ended >= hub.HUB_MEMORY_S:
            return None
        error = self.job.exception()
        return error if isinstance(error, HubError) else None


_FETCHES: dict[tuple[str, str | None], _Fetch] = {}
"""The fetch in progress (or the last one) per (checkpoint, revision); one at a time, shared by every request.
Read and written on the server's event loop only."""


def _needs_fetch(checkpoint: Any) -> tuple[str, str | None] | None:
    """(name, revision) of a Hub checkpoint whose file this process has not found lately and whose model is not
    loaded; None for anything else (an unknown name is the handler's to refuse, in its own line)."""
    if not isinstance(checkpoint, str):
        return None
    try:
        ckpt = resolve_checkpoint(checkpoint)
        if not isinstance(ckpt.source, HubFile) or hub.weights_from_env(ckpt) is not None:
            return None
        revision = hub.revision_from_env(ckpt)
    except (EffNetV2Error, ValueError):
        return None
    loaded = any(name == ckpt.name and file is None and rev == revision for name, file, rev, _ in hub.cached_models())
    if loaded or hub.fetched(ckpt, revision) is not None:
        return None
    return ckpt.name, revision


async def weights_ready(checkpoint: Any) -> None:
    """Return once ``checkpoint``'s weights are on this server (at once when they were found lately or are not
    the Hub's); raise the fetch's own one-line error, or :class:`HubUnavailableError` "being fetched ... try again"
    while a fetch goes on past :data:`FETCH_WAIT_S`."""
    key = _needs_fetch(checkpoint)
    if key is None:
        return
    fetch = _FETCHES.get(key)
    if fetch is not None and (error := fetch.failed_lately()) is not None:
        raise error
    if fetch is None or fetch.job.done():
        fetch = _Fetch(_EXECUTOR.submit(hub.download, key[0], revision=key[1]), time.monotonic())
        fetch.job.add_done_callback(lambda _, f=fetch: setattr(f, "ended", time.monotonic()))
        _FETCHES[key] = fetch
        await asyncio.wait({asyncio.wrap_future(fetch.job)}, timeout=FETCH_WAIT_S)
    if fetch.job.done():
        fetch.job.result()  # the file, or the fetch's one-line error
        return
    raise HubUnavailableError(
        f"the weights of {key[0]} are being fetched from the Hub (for {time.monotonic() - fetch.started:.0f} s): "
        "try again in a minute; other requests are served meanwhile"
    )
