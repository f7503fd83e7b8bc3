"""Links that reopen an analysis: a tab's controls as a query string, and a query string back into controls.

A link names the tab (``?tab=lab``), may name the language (``?lang=zh-CN``), and carries the controls of the tab it
was made on (:data:`CONTROLS`). A photo travels by name only when it is one of the sample photos (``assets/``),
recognised by its bytes rather than by a file name a visitor chooses; an upload stays on the server that has it,
and the link says so. Reading a link checks each value as the tab's own control would and leaves out, with a
one-line note, those that do not fit: a link from another version of the app opens what it still can.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..checkpoints import resolve_checkpoint
from ..config import Blocks
from ..errors import EffNetV2Error, shorten
from ..explain import METHODS
from ..samples import photo_paths
from . import classify, explain, lab, limits, strings

TABS = ("classify", "latency", "lab", "walkthrough", "explain")
"""The page's tabs, by the ``id`` each has in ``app.py``."""
CONTROLS: dict[str, tuple[str, ...]] = {
    "classify": ("ckpt", "photo", "topk", "path", "stage", "class"),
    "explain": ("ckpt", "photo", "methods", "stages", "class"),
    "lab": ("model", "blocks", "size"),
}
"""The query keys a link of each tab carries, in the link's order."""
REASON_CHARS = 160
"""How much of why a value was left out the page shows (an unknown checkpoint's message lists them all)."""


@dataclass(frozen=True)
class Link:
    """What a link asks for, every value checked: the tab, the language, the tab's controls (key -> value)."""

    tab: str | None = None
    lang: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    """One line per value left out, saying why."""


@functools.cache
def _samples() -> dict[str, Path]:
    """sha256 of each sample photo -> its path (read once: the photos do not change while the app runs)."""
    try:
        paths = photo_paths()
    except FileNotFoundError:
        return {}
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in paths}


def photo_name(path: str | os.PathLike | None) -> str | None:
    """The sample photo whose bytes the file at ``path`` has (``chelsea.jpg``), else None (an upload of its own)."""
    if path is None:
        return None
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    sample = _samples().get(digest)
    return sample.name if sample is not None else None


def photo_path(name: str) -> Path | None:
    """The sample photo named ``name``, else None."""
    return next((p for p in _samples().values() if p.name == name), None)


def query(tab: str, values: Mapping[str, Any]) -> str:
    """``?tab=...&key=value...`` for the tab's controls (lists joined by commas; None left out)."""
    if tab not in TABS:
        raise EffNetV2Error(f"tab must be one of {', '.join(TABS)}, got {shorten(tab)}")
    pairs = [("tab", tab)]
    for key in CONTROLS.get(tab, ()):
        value = values.get(key)
        if value is None or value == "":
            continue
        pairs.append((key, ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)))
    return "?" + urlencode(pairs, safe=",")


def _one_of(value: str, allowed: list[str] | tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise EffNetV2Error(f"{what} must be one of {', '.join(allowed)}")
    return value


def _some_of(value: str, allowed: list[str] | tuple[str, ...], what: str, most: int) -> list[str]:
    chosen = [v for v in value.split(",") if v]
    if not chosen or len(chosen) > most:
        raise EffNetV2Error(f"{what} takes 1 to {most} of {', '.join(allowed)}")
    return [_one_of(v, allowed, what) for v in chosen]


def _photo(value: str) -> str:
    path = photo_path(value)
    if path is None:
        raise EffNetV2Error("photo must be a sample photo: " + ", ".join(p.name for p in _samples().values()))
    return str(path)


def _checked(tab: str, key: str, value: str, chosen: dict[str, Any], checkpoint: str) -> Any:
    """One value of a tab's control, checked (``chosen``: the values read before it, e.g. the checkpoint)."""
    ckpt = chosen.get("ckpt", checkpoint)
    if key == "ckpt":
        return resolve_checkpoint(value).name
    if key == "photo":
        return _photo(value)
    if key == "topk":
        return limits.TOPK.check(value)
    if key == "path":
        return _one_of(value, classify.PATHS, "path")
    if key == "stage":
        return _one_of(value, classify.cam_choices(ckpt), "stage")
    if key == "class":
        return limits.CLASS_INDEX.check(value)
    if key == "methods":
        return _some_of(value, METHODS, "methods", len(METHODS))
    if key == "stages":
        return _some_of(value, explain.stage_choices(ckpt), "stages", limits.ATLAS_STAGES)
    if key == "model":
        return _one_of(value, lab.models(), "model")
    if key == "blocks":
        return str(Blocks.parse(chosen.get("model", lab.DEFAULT_MODEL), value))
    if key == "size":
        return limits.IMAGE_SIZE.check(value)
    raise EffNetV2Error(f"{key} is not a control of the {tab} tab")


def read(params: Mapping[str, str], checkpoint: str = classify.DEFAULT_CHECKPOINT) -> Link:
    """The link in a page's query parameters: its tab, its language and the tab's controls, each checked
    (``checkpoint``: the page's own, for a stage when the link names none). Nothing here raises."""
    skipped: list[str] = []
    tab = params.get("tab")
    if tab is not None and tab not in TABS:
        skipped.append(f"tab={shorten(tab)}: tab must be one of {', '.join(TABS)}")
        tab = None
    lang = params.get("lang")
    if lang is not None and lang not in strings.LANGUAGES:
        skipped.append(f"lang={shorten(lang)}: lang must be one of {', '.join(strings.LANGUAGES)}")
        lang = None
    values: dict[str, Any] = {}
    for key in CONTROLS.get(tab or "", ()):
        if key in params:
            try:
                values[key] = _checked(tab, key, params[key], values, checkpoint)
            except (EffNetV2Error, ValueError) as exc:
                reason = str(exc).splitlines()[0]
                reason = reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"
                skipped.append(f"{key}={shorten(params[key])}: {reason}")
    return Link(tab, lang, values, tuple(skipped))
