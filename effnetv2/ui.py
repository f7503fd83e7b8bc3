"""The Gradio plumbing under ``app.py``: how an event runs and fails, the edge check, the web app's middleware.

``app.py`` lays out the tabs and wires their events; what every event shares lives here: a torch event runs on
the one torch thread and stops when its client has gone (``effnetv2.cancel``), every error reaches the visitor
as one line without a server path, every request is parsed against its fields before Gradio's preprocessing
(:class:`ExplorerBlocks`), and the HTTP guard, the upload gate and the temp folder's lifespan wrap the web app
(:func:`app_kwargs`). Gradio is imported here, never by the engine or ``effnetv2.backend``; import this module
after ``GRADIO_TEMP_DIR`` is set (``app.py`` does), since Gradio reads it at import.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

try:  # ZeroGPU: `spaces` must be imported before torch initialises CUDA; elsewhere a no-op.
    import spaces

    on_gpu: Callable[[Callable], Callable] = spaces.GPU
    ZERO_GPU = True
    """CUDA may be touched only inside ``spaces.GPU`` functions (so no background warm-up of the fast path)."""
except ImportError:  # not on a Space
    ZERO_GPU = False

    def on_gpu(fn: Callable) -> Callable:
        return fn


import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from . import settings
from .backend import fetching, limits, public, requests, routes, uploads
from .backend.torch_thread import run_on_torch_thread
from .errors import EffNetV2Error
from .ui_i18n import readable_api
from .ui_mcp import ToolServer


@contextlib.contextmanager
def shown_to_user() -> Iterator[None]:
    """The package's one-line errors become a message the user sees (no tracebacks in the browser)."""
    try:
        yield
    except (EffNetV2Error, ValueError, OSError, RuntimeError) as exc:
        raise gr.Error(public.error_text(exc), print_exception=False) from None


def user_errors(fn: Callable) -> Callable:
    """A handler whose errors reach the user as one clear message (see :func:`shown_to_user`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with shown_to_user():
            return fn(*args, **kwargs)

    return wrapper


def torch_event(fn: Callable) -> Callable:
    """A handler that runs torch: user-facing errors, the work on the one long-lived torch thread
    (``effnetv2.backend.torch_thread``), and ZeroGPU allocation when on a Space.

    The handler is async, so Gradio awaits it on its event loop instead of first moving it to a worker
    thread: one thread hop per request, not two. ``spaces.GPU`` is applied inside the thread hop: ZeroGPU may
    run the function in a forked worker, and a fork copies no threads.

    A handler with a ``checkpoint`` parameter first has that checkpoint's weights fetched off the torch thread
    (``effnetv2.backend.fetching``): a download, or an unreachable Hub, never holds the torch thread.
    """
    work = on_gpu(fn)
    signature = inspect.signature(fn)
    names_checkpoint = "checkpoint" in signature.parameters

    @functools.wraps(fn)
    async def handler(*args: Any, **kwargs: Any) -> Any:
        with shown_to_user():
            if names_checkpoint:
                await fetching.weights_ready(signature.bind_partial(*args, **kwargs).arguments.get("checkpoint"))
            return await run_on_torch_thread(work, *args, abandoned=client_gone(), **kwargs)

    return handler


def client_gone() -> Callable[[], bool]:
    """Whether the client of the event being handled has gone: Gradio marks the event's job not ``alive`` when
    its event stream closes, but lets the function run on; the torch thread then stops it at its next run or
    step boundary (``effnetv2.cancel``). Call it in the handler, where Gradio's context names the event."""
    from gradio.context import LocalContext

    queue, event_id = getattr(LocalContext.blocks.get(None), "_queue", None), LocalContext.event_id.get(None)

    def gone() -> bool:
        jobs = getattr(queue, "active_jobs", None) or []
        return any(event._id == event_id and not event.alive for job in jobs if job for event in job)

    return gone


def uploaded(payload: Any) -> str | None:
    """The path of an uploaded image, from an event registered with ``preprocess=False``: ``open_image``
    then reads the file once, with its own one-line messages for broken, huge or odd files. Only a file in
    Gradio's upload folder is read: a request cannot name another file of the server."""
    return requests.upload("image", payload, [get_upload_folder()])


KINDS: dict[type, requests.Kind] = {
    gr.Slider: "number", gr.Number: "number", gr.Checkbox: "flag", gr.Image: "upload", gr.File: "upload",
    gr.Textbox: "text", gr.Radio: "choice", gr.CheckboxGroup: "choices",
}  # fmt: skip
"""The kind of JSON value each input component takes (``effnetv2.backend.requests``); a Dropdown: see below."""


@functools.cache
def request_fields(fn: Callable, inputs: tuple, preprocess: bool) -> list[requests.Field]:
    """The fields of an event, named as on the API page (the handler's parameters). Numbers of an event that
    skips Gradio's preprocessing are the handler's to parse (strictly, with the bound's own message)."""
    names = list(inspect.signature(fn).parameters)
    fields = []
    for i, block in enumerate(inputs):
        name = names[i] if i < len(names) else f"value {i + 1}"
        if isinstance(block, gr.Dropdown):
            kind: requests.Kind = "choices" if block.multiselect else "choice"
        else:
            kind = next((k for t, k in KINDS.items() if isinstance(block, t)), "any")
        if kind == "number" and not preprocess:
            kind = "any"
        bounds = (block.minimum, block.maximum) if kind == "number" else (None, None)
        fields.append(requests.Field(name, kind, *bounds))
    return fields


class ExplorerBlocks(gr.Blocks):
    """``gr.Blocks`` whose events refuse a malformed request in one line before Gradio's preprocessing (which
    would fail with no message: ``{"error": null}``), and turn every other error into one line a visitor may
    see (:func:`effnetv2.backend.public.visitor_text`), whatever the route: page, gradio_client or REST."""

    async def process_api(self, block_fn: Any, inputs: list[Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        try:
            if fn.fn is not None and not fn.batch and kwargs.get("iterator") is None:
                fields = request_fields(fn.fn, tuple(fn.inputs), fn.preprocess)
                requests.check(f"/{fn.api_name or fn.name}", fields, inputs, [get_upload_folder()])
            return await super().process_api(fn, inputs, *args, **kwargs)
        except gr.Error as exc:
            exc.message = public.visitor_text(exc.message) or "Error"
            raise
        except Exception as exc:
            title = routes.REFUSAL if isinstance(exc, EffNetV2Error) else "Server error"
            if not isinstance(exc, EffNetV2Error):
                logging.getLogger(__name__).exception("/%s failed", fn.api_name)
            raise gr.Error(public.error_text(exc), print_exception=False, title=title) from None

    def get_api_info(self, all_endpoints: bool = False, page: str | None = None) -> Any:
        """The API docs (``view_api``, "Use via API") in plain English (:func:`effnetv2.ui_i18n.readable_api`)."""
        return readable_api(super().get_api_info(all_endpoints, page), self.fns.values())

    @property
    def mcp_server_obj(self) -> Any:
        """The MCP server (``launch(mcp_server=True)``), if any: this app's :class:`effnetv2.ui_mcp.ToolServer`."""
        return self.__dict__.get("_tool_server")

    @mcp_server_obj.setter
    def mcp_server_obj(self, server: Any) -> None:
        # Gradio makes its own server at launch (routes.App.setup_mcp_server) with no hook for its class: this app's
        # takes its place before anything uses it.
        if server is not None and not isinstance(server, ToolServer):
            server = ToolServer(self)
        self.__dict__["_tool_server"] = server


def api_endpoints(scope: dict[str, Any]) -> dict[str, str]:
    """Every named endpoint of the app serving ``scope`` -> its visibility (``routes.Guard``)."""
    fns = scope["app"].get_blocks().fns.values()
    return {fn.api_name: fn.api_visibility for fn in fns if fn.api_name}


def event_indices(scope: dict[str, Any]) -> Any:
    """The ``fn_index`` of every event of the app serving ``scope`` (``routes.Guard``)."""
    return scope["app"].get_blocks().fns.keys()


def app_kwargs() -> dict[str, Any]:
    """``launch(app_kwargs=...)``: the HTTP guard (``effnetv2.backend.routes``: unknown and private endpoints,
    oversized bodies) sees every request first; uploads then pass ``uploads.UploadGate`` (size, disk budget,
    nothing left when cut off); the app's temporary folder is pruned while serving and removed at shutdown
    (``uploads.lifespan``)."""
    guard = Middleware(
        routes.Guard,
        endpoints=api_endpoints,
        events=event_indices,
        max_body=limits.MAX_REQUEST_BYTES,
        env=limits.MAX_REQUEST_BYTES_ENV,
        body_timeout_s=limits.BODY_TIMEOUT_S,
        timeout_env=settings.BODY_TIMEOUT_S.name,
    )
    budget = uploads.DiskBudget.from_limits(uploads.claim_temp_dir())
    gate = Middleware(
        uploads.UploadGate,
        budget=budget,
        max_bytes=limits.MAX_FILE_SIZE,
        timeout_s=limits.UPLOAD_TIMEOUT_S,
    )
    return {"middleware": [guard, gate], "lifespan": uploads.lifespan(budget)}
