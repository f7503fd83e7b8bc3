"""The HTTP guard in front of the app: answers in one line what Gradio's routes answer with a 500 or let through.

- ``POST /gradio_api/{call,call/v2,run,api}/NAME`` with an unknown NAME: 404 (Gradio raises, 500, and the
  connection is dropped); with a NAME marked private (UI plumbing, not on the API page): 403 (Gradio runs it).
- ``POST /gradio_api/queue/join`` (the page's and gradio_client's route) naming an event index the app does not
  have, in any form FastAPI reads as one (``9999``, ``"9999"``, ``"-1"``, ``9999.0``): 404 (Gradio: 500).
- A request body over :data:`~effnetv2.backend.limits.MAX_REQUEST_BYTES`: 413, before anything parses it
  (uploads have their own bound, ``launch(max_file_size=...)``, and are not counted here).
- A request body that has not arrived within :data:`~effnetv2.backend.limits.BODY_TIMEOUT_S`: 408, and the
  connection is closed (a client that announces a body and sends it a byte at a time held a connection and a
  task for as long as it liked; uploads have their own timeout, ``effnetv2.backend.uploads``).
- An upload Gradio cannot read (a part without a file name): 400 instead of 500.
- A body FastAPI cannot validate (not JSON, ``data`` not a list): the 422 keeps its status, and its list of
  pydantic details becomes one line.
- ``POST /gradio_api/{run,api}/NAME`` for an endpoint the app has: 404, closed. Gradio runs such a call at once,
  beside its queue, so it escaped the queue's bound (``EFFNETV2_QUEUE_SIZE=4``: ``/call`` refused 5 of 10
  concurrent requests, ``/run`` took all 10 onto the one torch thread). ``app.queued`` closes it in Gradio too
  (``queue(api_open=False)``); the guard says so in one line, naming the route that is bounded.
- Any other exception before the response started: 500 with one line, the connection kept.

Every refusal is ``{"error": "<one line>"}``. A plain ASGI middleware, free of Gradio: ``app.py`` gives it the
endpoints (``endpoints(scope)``: name -> ``public``, ``undocumented`` or ``private``) and wires it through
``launch(app_kwargs=...)``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from pydantic import TypeAdapter

from ..errors import shorten

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/gradio_api"
REFUSAL = "Error"
"""The title of Gradio's error payload when the request was refused (``gr.Error``'s default); ``effnetv2.ui``
titles the errors it did not foresee "Server error"."""
UPLOAD_PATH = f"{API_PREFIX}/upload"
JOIN_PATH = f"{API_PREFIX}/queue/join"
_NAMED_CALL = re.compile(rf"^{API_PREFIX}/(call/v2|call|run|api)/([^/]+)/?$")
UNQUEUED = ("run", "api")
"""The routes on which Gradio runs an event at once, beside its queue: closed (see the module's docstring)."""
log = logging.getLogger(__name__)


def named_call(path: str) -> str | None:
    """The endpoint name of a REST call's path (``/gradio_api/call/classify`` -> ``classify``), else None."""
    match = _NAMED_CALL.match(path)
    return match.group(2) if match else None


def _size(n: int) -> str:
    return f"{n / 1024:.0f} kB" if n < 2**20 else f"{n / 2**20:.1f} MB"


async def refuse(send: Send, status: int, message: str) -> None:
    """Answer with ``status`` and ``{"error": message}``; after a 408 the server closes the connection (the rest
    of the body may never come)."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 408:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: see the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        endpoints: Callable[[Scope], Mapping[str, str]],
        events: Callable[[Scope], Collection[int]],
        max_body: int,
        env: str = "",
        body_timeout_s: float = 30.0,
        timeout_env: str = "",
    ) -> None:
        self.app = app
        self.endpoints = endpoints
        self.events = events
        """The event indices (``fn_index``) the app has."""
        self.max_body = max_body
        self.env = env
        """The setting that raises ``max_body``, named in the 413 message."""
        self.body_timeout_s = body_timeout_s
        self.timeout_env = timeout_env
        """The setting that changes ``body_timeout_s``, named in the 408 message."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path != UPLOAD_PATH:
            name = named_call(path)
            if name is not None and (refusal := self._endpoint_refusal(scope, name)):
                await refuse(send, *refusal)
                return
            try:
                body = await self._body(scope, receive)
            except _Refused as refusal:
                await refuse(send, *refusal.args)
                return
            if path == JOIN_PATH and (index := _fn_index(body)) is not None and index not in self.events(scope):
                await refuse(send, 404, f"no event with fn_index {index}")
                return
            receive = _replay(body, receive)
            send = _rewritten(send)
        await self._run(scope, receive, send, upload=path == UPLOAD_PATH)

    def _endpoint_refusal(self, scope: Scope, name: str) -> tuple[int, str] | None:
        known = self.endpoints(scope)
        public = ", ".join(f"/{n}" for n, visibility in known.items() if visibility == "public")
        if name not in known:
            return 404, f"no API endpoint named {_quoted(name)}; the endpoints are {public}"
        if known[name] == "private":
            return 403, f"{_quoted(name)} is part of the page, not of the API; the endpoints are {public}"
        if _NAMED_CALL.match(scope["path"]).group(1) in UNQUEUED:
            return 404, (
                f"{scope['path']} is closed here: it would skip the queue and its bound; POST "
                f"{API_PREFIX}/call/{name} (then GET its event stream), or use gradio_client"
            )
        return None

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """The whole body; :class:`_Refused` as soon as it is known to be over the limit (from Content-Length, or
        while reading a body sent without one), or once it has taken longer than ``body_timeout_s``."""
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = _Refused(413, f"the request body is over the limit of {_size(self.max_body)}{_named(self.env)}")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise too_big
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except asyncio.TimeoutError:  # builtin TimeoutError from Python 3.11 on
                raise _Refused(
                    408,
                    f"the request body did not arrive within {self.body_timeout_s:g} s{_named(self.timeout_env)}",
                ) from None
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise too_big
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _run(self, scope: Scope, receive: Receive, send: Send, upload: bool) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            if upload:
                log.warning("upload refused: %s: %s", type(exc).__name__, exc)
                await refuse(send, 400, "the upload could not be read: send multipart/form-data with a named file")
            else:
                log.exception("%s %s failed", scope["method"], scope["path"])
                await refuse(send, 500, f"internal error ({type(exc).__name__}); the server goes on serving")


class _Refused(Exception):
    """A request the guard answers itself: ``args`` are the status and the one line."""


def _named(setting: str) -> str:
    return f" ({setting})" if setting else ""


def _quoted(name: str) -> str:
    return shorten("/" + name)


_INDEX = TypeAdapter(int | None)
"""How FastAPI reads ``fn_index`` (Gradio's ``PredictBody``: ``int | None``, lax): ``"9999"``, ``" -1 "`` and
``9999.0`` are the integers 9999 and -1, which Gradio then looks up and fails on (500)."""


def _fn_index(body: bytes) -> int | None:
    """The ``fn_index`` of a queue/join body as Gradio will read it, when it reads one (else Gradio judges the
    body: 422)."""
    try:
        return _INDEX.validate_python(json.loads(body).get("fn_index"))
    except (ValueError, AttributeError):  # pydantic's ValidationError is a ValueError
        return None


def invalid_body(raw: bytes) -> str:
    """FastAPI's 422 answer (``{"detail": [{"loc": [...], "msg": ...}, ...]}`` or ``{"detail": "..."}``) as one line."""
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        where = ".".join(str(part) for part in detail[0].get("loc", ()))
        detail = f"{detail[0].get('msg', 'invalid')} at {where}"
    text = detail if isinstance(detail, str) and detail else "the request body does not fit the endpoint"
    return f"the request is not valid: {text.splitlines()[0][:200]}"


def _rewritten(send: Send) -> Send:
    """A ``send`` that makes a 422 answer's body one line (:func:`invalid_body`); other answers pass unchanged."""
    start: Message | None = None
    held: list[bytes] = []

    async def rewriting(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start" and message["status"] == 422:
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message.get("body", b""))
        if not message.get("more_body", False):
            await refuse(send, 422, invalid_body(b"".join(held)))

    return rewriting


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already read body once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
