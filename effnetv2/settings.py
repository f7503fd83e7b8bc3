"""Every ``EFFNETV2_*`` setting in one place: its name, default, range (or kind) and what it is for.

Why one home: the settings were read in four modules, each with its own forgiving parser, and a value out of
range went through unnoticed until it broke every request (``EFFNETV2_SESSION_CAPACITY=0``: each call a 500
KeyError; ``EFFNETV2_MAX_REQUEST_BYTES=-1``: each call a 413 "limit of -0 kB"; ``EFFNETV2_MAX_FILE_SIZE=5000``:
accepted here, then Gradio's ``launch`` crashed on the unit). Here each setting parses its own text strictly,
and :func:`check` refuses a bad one in one line that names the setting, its value and its range.

Modules read their values when they are imported (:meth:`Setting.value`); a bad value then gives the default so
that importing the package never fails, and the app refuses to start on it (``app.py`` calls
:func:`exit_if_unusable` before it builds anything). ``docs/reliability.md``'s Bounds table lists the bounded ones;
``tests/test_env_bounds.py`` checks it against :data:`SETTINGS`.

Imports only :mod:`effnetv2.bounds` (the engine's ranges, which the app's settings may not exceed).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import bounds
from .errors import EffNetV2Error, shorten


class SettingError(EffNetV2Error, ValueError):
    """An ``EFFNETV2_*`` setting whose value cannot be used; the message is one line naming it."""


SIZE_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}
"""The units of Gradio's ``launch(max_file_size=...)`` (``gradio.utils.FileSize``), in units of 1024; a bare number
is bytes. The app hands Gradio the size in bytes (an int), so that both read the setting alike."""


def file_size(text: str) -> int:
    """``"10mb"``, ``"10 MB"``, ``"500kb"`` or ``"5000"`` (bytes) in bytes, as Gradio's parser reads its units (spaces
    ignored, any case); ValueError otherwise."""
    match = re.fullmatch(r"(\d+)([a-z]*)", text.replace(" ", "").lower())
    if not match or match.group(2) not in ("", *SIZE_UNITS):
        raise ValueError(text)
    return int(match.group(1)) * SIZE_UNITS.get(match.group(2), 1)


def _size_text(n: int) -> str:
    unit = next((u for u in ("tb", "gb", "mb", "kb") if n % SIZE_UNITS[u] == 0), "b")
    return f"{n // SIZE_UNITS[unit]}{unit}"


@dataclass(frozen=True)
class Setting:
    """One ``EFFNETV2_*`` setting: read from the environment by :meth:`read` (strictly) or :meth:`value`."""

    name: str
    default: Any
    """The value when unset (None: the code computes one; :attr:`shown_default` says how)."""
    doc: str
    kind: str = "int"
    """``int`` (whole number), ``float`` (finite number), ``size`` (:func:`file_size`) or ``text`` (read by its own
    module, which parses it; :attr:`check_text` runs that parser here)."""
    low: float | None = None
    high: float | None = None
    shown_default: str | None = None
    """The default as the docs show it, where it is not the plain value."""
    check_text: Callable[[str, str], object] | None = None
    """For ``text``: ``check_text(name, text)`` raises ValueError or an EffNetV2Error (one line) when the module
    that reads it could not use it."""

    def _ends(self) -> tuple[str, str]:
        show = {"size": lambda n: _size_text(int(n)), "float": lambda n: f"{n:g}"}.get(self.kind, lambda n: str(int(n)))
        return show(self.low), show(self.high)

    @property
    def range_text(self) -> str:
        """The range as the docs' Bounds table shows it: ``1-200``, ``1kb-1gb``, ``1e+06-1e+17``."""
        return "text" if self.kind == "text" else "-".join(self._ends())

    @property
    def default_text(self) -> str:
        """The default as the docs' Bounds table shows it."""
        if self.shown_default is not None:
            return self.shown_default
        return _size_text(self.default) if self.kind == "size" else str(self.default)

    def parse(self, text: str) -> Any:
        """``text`` as this setting's value, or :class:`SettingError` naming the setting, ``text`` and the range."""
        if self.kind == "text":
            try:
                if self.check_text is not None:
                    self.check_text(self.name, text)
            except (ValueError, EffNetV2Error) as exc:
                raise SettingError(f"{self.name}={shorten(text)} is not usable: {str(exc).splitlines()[0]}") from None
            return text
        what = {"int": "a whole number", "float": "a number", "size": "a size (a whole number of b, kb, mb, gb or tb)"}
        expected = "{} from {} to {}".format(what[self.kind], *self._ends())
        try:
            value = {"int": int, "float": float, "size": file_size}[self.kind](text.strip())
        except ValueError:
            raise SettingError(f"{self.name}={shorten(text)} is not {expected}") from None
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise SettingError(f"{self.name}={shorten(text)} is out of range: {expected}")
        return value

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        """The value set in ``environ`` (``os.environ``), the default when unset or empty; SettingError when bad."""
        text = (os.environ if environ is None else environ).get(self.name, "")
        return self.parse(text) if text.strip() else self.default

    def value(self) -> Any:
        """:meth:`read`, but the default for a bad value: what a module reads when it is imported, so that importing
        never fails; the app then refuses to start on the bad value (:func:`exit_if_unusable`, called by
        ``app.launch_options``), while the CLI and the Python API go on with the default."""
        try:
            return self.read()
        except SettingError:
            return self.default


def _within(bound: bounds.Bound, low: int | None = None) -> dict[str, int]:
    """A setting's range: the engine's ``bound`` (from ``low`` up, where the app needs more than the engine)."""
    return {"low": bound.low if low is None else low, "high": bound.high}


# The app's narrower limits (effnetv2.backend.limits): each at most the engine's bound.
MAX_RUNS = Setting("EFFNETV2_MAX_RUNS", 30, "timed runs of one Latency/Lab request", **_within(bounds.RUNS))
MAX_BATCH = Setting("EFFNETV2_MAX_BATCH", 16, "batch of one Latency/Lab request", **_within(bounds.BATCH))
MAX_IMAGE_SIZE = Setting(
    "EFFNETV2_MAX_IMAGE_SIZE", 640, "image size (px) of one Latency/Lab request", **_within(bounds.IMAGE_SIZE)
)
MAX_TRAIN_BATCH = Setting(
    "EFFNETV2_MAX_TRAIN_BATCH", 8, "the Lab's training batch; BatchNorm needs 2 or more", **_within(bounds.BATCH, 2)
)
MAX_FILE_SIZE = Setting("EFFNETV2_MAX_FILE_SIZE", 10 * 2**20, "the largest upload", kind="size", low=2**10, high=2**30)
MAX_REQUEST_BYTES = Setting(
    "EFFNETV2_MAX_REQUEST_BYTES", 256 * 1024, "the largest request body, uploads aside", low=1024, high=64 * 2**20
)
QUEUE_SIZE = Setting("EFFNETV2_QUEUE_SIZE", 32, "requests waiting for the torch slot", low=1, high=10_000)
SESSION_CAPACITY = Setting("EFFNETV2_SESSION_CAPACITY", 200, "sessions whose state is kept", low=1, high=10_000)
MAX_REQUEST_S = Setting(
    "EFFNETV2_MAX_REQUEST_S", 120, "seconds one request may hold the torch slot, by its estimate", low=1, high=10**6
)
UPLOAD_BUDGET_MB = Setting("EFFNETV2_UPLOAD_BUDGET_MB", 500, "disk of the app's temp folder", low=1, high=2**20)
UPLOAD_MAX_AGE_S = Setting(
    "EFFNETV2_UPLOAD_MAX_AGE_S", 3600, "age at which an upload or a returned image is deleted", low=1, high=7 * 86400
)
UPLOAD_TIMEOUT_S = Setting("EFFNETV2_UPLOAD_TIMEOUT_S", 120, "seconds one upload may take", low=1, high=3600)
BODY_TIMEOUT_S = Setting(
    "EFFNETV2_BODY_TIMEOUT_S", 30, "seconds a request body (uploads aside) may take to arrive", low=1, high=3600
)
# What one request may cost (effnetv2.costs): the engine's too, for the CLI and the Python API.
MAX_REQUEST_MB = Setting(
    "EFFNETV2_MAX_REQUEST_MB", None, "memory (MB) one request may use", low=1, high=10**8,
    shown_default="80 % of the free memory",
)  # fmt: skip
MACS_PER_S = Setting(
    "EFFNETV2_MACS_PER_S", None, "multiply-adds per second for time estimates", kind="float", low=1e6, high=1e17,
    shown_default="5e9 on CPU, 2e11 on CUDA",
)  # fmt: skip
# Where weights come from and how models run: parsed where they are read (effnetv2.hub, effnetv2.backends), whose
# parsers check them here too (imported when a value is checked: they need torch).


def _entries(what: str) -> Callable[[str, str], object]:
    def check(name: str, text: str) -> object:
        from .hub import env_entries

        return env_entries(name, what, text)

    return check


def _backends(name: str, text: str) -> object:
    from .backends import check_backend

    return [check_backend(b.strip()) for b in text.split(",") if b.strip()]


WEIGHTS = Setting(
    "EFFNETV2_WEIGHTS", None, "a local .safetensors file (FILE or CHECKPOINT=FILE entries) instead of the Hub",
    kind="text", check_text=_entries("FILE"),
)  # fmt: skip
REVISION = Setting(
    "EFFNETV2_REVISION", None, "the Hub revision to load (REVISION or CHECKPOINT=REVISION entries)", kind="text",
    check_text=_entries("REVISION"),
)  # fmt: skip
WARMUP = Setting(
    "EFFNETV2_WARMUP", 1, "1: the default checkpoint's fast path is chosen in the background at start; 0: not",
    low=0, high=1,
)  # fmt: skip
CACHE = Setting("EFFNETV2_CACHE", None, "the folder of exported models (default ~/.cache/effnetv2)", kind="text")
BACKENDS = Setting(
    "EFFNETV2_BACKENDS", None, "backends the automatic choice may use (comma-separated)", kind="text",
    check_text=_backends,
)  # fmt: skip

SETTINGS: tuple[Setting, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Setting))
"""Every setting, in the order above."""


def problems(environ: Mapping[str, str] | None = None, settings: Iterable[Setting] = SETTINGS) -> list[str]:
    """One line for each bad value among ``settings`` in ``environ`` (``os.environ``)."""
    found = []
    for setting in settings:
        try:
            setting.read(environ)
        except SettingError as exc:
            found.append(str(exc))
    return found


def check(environ: Mapping[str, str] | None = None, settings: Iterable[Setting] = SETTINGS) -> None:
    """SettingError, one line naming every bad value, unless all ``settings`` are usable."""
    if found := problems(environ, settings):
        raise SettingError("; ".join(found))


def exit_if_unusable() -> None:
    """Stop the process with one line on stderr (exit status 1) when a setting is bad: a server that started with
    it would fail every request, or run with a value nobody chose."""
    try:
        check()
    except SettingError as exc:
        raise SystemExit(f"effnetv2: refusing to start: {exc}") from None
