"""Alt text for the app's heat maps, in the page's language: where each map is strongest and how concentrated.

The measurement is the engine's (:func:`effnetv2.map_summary.summarize`, on the raw map); this module only words it
(``map_*`` and ``region_*`` strings of ``effnetv2.backend.strings``). The Classify tab's Grad-CAM overlay takes
:func:`map_alt` as its ``alt_text`` (through :class:`LastAlt`); the Explain atlas adds :func:`map_where` to each
map's caption, which the gallery shows and gives its images as their alt text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..map_summary import summarize
from .strings import DEFAULT_LANGUAGE, ui_text


def map_where(saliency: np.ndarray, lang: str = DEFAULT_LANGUAGE) -> str:
    """Where ``saliency`` is strongest and what share of the image is above half its peak, as one phrase."""
    s = summarize(saliency)
    if s.empty:
        return ui_text("map_where_empty", lang)
    region = ui_text(f"region_{s.region}", lang)
    return ui_text("map_where", lang).format(region=region, share=s.share)


def map_alt(saliency: np.ndarray, method: str, label: str, stage: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The alt text of one map: what it is (method, class, stage), then :func:`map_where`."""
    where = map_where(saliency, lang)
    return ui_text("map_alt", lang).format(method=method, label=label, stage=stage, where=where)


class LastAlt:
    """The alt text of the last map each recent session was shown, for the page's step after the image (which sets
    it on the image): the API's result stays the image itself. The oldest sessions drop out beyond ``size``."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session: str | None, text: str) -> None:
        with self._lock:
            self._texts[session or ""] = text
            self._texts.move_to_end(session or "")
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)

    def pop(self, session: str | None) -> str:
        """The session's last alt text ("" when there is none), forgotten once read."""
        with self._lock:
            return self._texts.pop(session or "", "")
