"""Strict parsing of a request's values at the app's edge, before Gradio or a handler sees them.

Every route into the app (the page, ``gradio_client``, raw REST) delivers JSON values. Gradio's own
preprocessing compares them with the slider's bounds or passes them on as they are: a string ``"64"`` for a
number fails deep inside it with no message (``{"error": null}``), a string ``"false"`` for a checkbox is
truthy, and an object ``{"path": ...}`` without Gradio's file marker names a file on the server. Here each
value is checked against the kind of field it fills, and a wrong one is refused in one line that names the
field and says what came instead (never echoing more than :data:`effnetv2.errors.SHORT` characters of it).

Free of Gradio: ``app.py`` says which kind each component is (:class:`Field`); this module judges values.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..bounds import flag as engine_flag
from ..errors import RequestError, describe

Kind = Literal["number", "flag", "text", "choice", "choices", "upload", "any"]


@dataclass(frozen=True)
class Field:
    """One input of an endpoint: its parameter name (as the API page shows it) and the kind of value it takes."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    """A number's range, quoted in the message (the range itself is checked by the slider or the handler)."""


def _number(field: Field, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        bounds = f" from {field.low:g} to {field.high:g}" if field.low is not None and field.high is not None else ""
        raise RequestError(f"{field.name} must be a number{bounds}, got {describe(value)}")


def _flag(field: Field, value: Any) -> None:
    engine_flag(field.name, value)


def _text(field: Field, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise RequestError(f"{field.name} must be text, got {describe(value)}")


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, numbers.Real)) and not isinstance(value, bool)


def _choice(field: Field, value: Any) -> None:
    if not _scalar(value):
        raise RequestError(f"{field.name} must be one of its choices, got {describe(value)}")


def _choices(field: Field, value: Any) -> None:
    if not isinstance(value, list) or not all(_scalar(v) for v in value):
        raise RequestError(f"{field.name} must be a list of its choices, got {describe(value)}")


def _within(path: str, roots: Iterable[str | os.PathLike]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(os.path.realpath(root)) for root in roots)


def upload(name: str, value: Any, roots: Sequence[str | os.PathLike]) -> str | None:
    """The server path of an uploaded file, or None when no file was given.

    An upload is what Gradio's upload route returned (``{"path": ..., "meta": {"_type": "gradio.FileData"}}``,
    as ``gradio_client.handle_file`` and the page send it): an object whose path lies in Gradio's upload folder
    (``roots``). Anything else (a path on the server, a URL, a ``data:`` URI, a plain string, a number, a
    list) is refused: the server reads no file a request names, and fetches nothing.
    """
    if value is None:
        return None
    path = value.get("path") if isinstance(value, dict) else None
    if isinstance(path, str) and path and _within(path, roots):
        return path
    if isinstance(value, dict):
        got = "an object without an uploaded file" if not path else "a file that was not uploaded here"
        if not path and isinstance(value.get("url"), str):
            got = "a URL"
    else:
        got = describe(value)
    raise RequestError(
        f"{name} must be a file uploaded to this server (gradio_client's handle_file, or POST /gradio_api/upload "
        f"first), got {got}"
    )


def check(endpoint: str, fields: Sequence[Field], values: Any, upload_roots: Sequence[str | os.PathLike]) -> None:
    """Refuse the request in one line unless it brings one value of the right kind for every field, in order."""
    if not isinstance(values, list) or len(values) != len(fields):
        count = len(values) if isinstance(values, list) else describe(values)
        names = ", ".join(f.name for f in fields)
        raise RequestError(f"{endpoint} takes {len(fields)} values ({names}), got {count}")
    for field, value in zip(fields, values, strict=True):
        if field.kind == "upload":
            upload(field.name, value, upload_roots)
        elif field.kind != "any":
            _CHECKS[field.kind](field, value)


_CHECKS = {"number": _number, "flag": _flag, "text": _text, "choice": _choice, "choices": _choices}
