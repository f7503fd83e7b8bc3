"""The page's language switch: every translated label, button, option and text of the page in one language.

Labels made with ``gr.I18n`` follow the browser's language by themselves (Gradio translates them in the page).
The switch on the page cannot reach that mechanism, so its event sends every such text again, translated on the
server from the same keys of ``effnetv2.backend.strings``: :class:`PageText` finds them once the page is built
(Gradio keeps an ``I18nData`` as a ``__i18n__{"key": ...}`` marker, alone or inside a longer text), and
:meth:`PageText.updates` turns them into ``gr.update`` values for one language. Nothing is registered by hand,
so a label added with ``i18n("key")`` anywhere in ``app.py`` switches with the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block
from gradio.i18n import I18nData

from .backend import strings

_MARKER = re.compile(r"__i18n__(\{[^{}]*\})")
ATTRIBUTES = ("label", "info", "placeholder", "value")
"""The attributes of a block that may hold a translated text (``value``: a Button's or a Markdown's)."""


def localize(text: str, lang: str) -> str:
    """``text`` with every ``gr.I18n`` marker replaced by this app's string in ``lang`` (markers of keys that are
    not this app's are left for Gradio)."""

    def one(match: re.Match) -> str:
        key = json.loads(match.group(1)).get("key", "")
        name = key.removeprefix(strings.I18N_PREFIX)
        if not key.startswith(strings.I18N_PREFIX) or name not in strings.UI:
            return match.group(0)
        return strings.ui_text(name, lang)

    return _MARKER.sub(one, text)


def _translatable(value: Any) -> bool:
    return isinstance(value, I18nData) or (isinstance(value, str) and "__i18n__" in value)


def templates(block: Block) -> dict[str, Any]:
    """The block's texts that carry translation markers: attribute -> text (``choices``: (name, value) pairs)."""
    found = {a: str(getattr(block, a)) for a in ATTRIBUTES if _translatable(getattr(block, a, None))}
    choices = getattr(block, "choices", None)
    if isinstance(choices, list) and any(isinstance(c, tuple) and _translatable(c[0]) for c in choices):
        found["choices"] = [(str(name), value) for name, value in choices]
    return found


Made = Callable[[str], dict[str, Any]]
"""Text the server makes for a block, as a ``gr.update`` in a language (a banner, a picker's choices)."""


@dataclass(frozen=True)
class PageText:
    """Every block of a page with translated texts, those texts (Gradio's markers), and the texts the server makes
    for some of them (``made``), in page order: one update per block, so no block is an output twice."""

    blocks: tuple[Block, ...]
    texts: tuple[dict[str, Any], ...]
    made: tuple[Made | None, ...]

    @classmethod
    def of(cls, demo: gr.Blocks, skip: Iterable[Block] = (), made: Iterable[tuple[Block, Made]] = ()) -> PageText:
        """The page's translated blocks and those with server-made text, except ``skip`` (e.g. outputs an event
        already updates)."""
        left_out, by_block = {id(b) for b in skip}, {id(b): fn for b, fn in made}
        found = [(b, templates(b)) for b in demo.blocks.values() if id(b) not in left_out]
        found = [(b, t) for b, t in found if t or id(b) in by_block]
        return cls(tuple(b for b, _ in found), tuple(t for _, t in found), tuple(by_block.get(id(b)) for b, _ in found))

    def updates(self, lang: str) -> list[dict[str, Any]]:
        """One ``gr.update`` per block (same order as :attr:`blocks`) with its texts in ``lang``."""
        out = []
        for texts, made in zip(self.texts, self.made, strict=True):
            update = {a: localize(t, lang) for a, t in texts.items() if a != "choices"}
            if "choices" in texts:
                update["choices"] = [(localize(name, lang), value) for name, value in texts["choices"]]
            out.append({**gr.update(**update), **(made(lang) if made is not None else {})})
        return out


def _remember_js(value: str) -> str:
    """Front-end code that stores the JS expression ``value`` as the page's language in the switch's cookie (the
    server reads it for the text it makes, :func:`effnetv2.backend.strings.request_language`)."""
    return f"document.cookie = '{strings.LANGUAGE_COOKIE}=' + encodeURIComponent({value}) + '; path=/; SameSite=Lax';"


def cookie_js(inputs: int) -> str:
    """Front-end code for the switch's event: remember the language in a cookie (:func:`_remember_js`), then pass
    the ``inputs`` on unchanged."""
    return f"(...args) => {{ {_remember_js('args[0]')} return args.slice(0, {inputs}); }}"


def link_language_js(inputs: int) -> str:
    """Front-end code for the page's first load: a link's ``?lang=`` (one of the page's languages) becomes the
    switch's cookie before the load's request leaves, so the whole page, and the text the server makes for every
    request after it, follow the link; then the ``inputs`` pass on unchanged."""
    tags = json.dumps(list(strings.LANGUAGES))
    return (
        "(...args) => { const lang = new URLSearchParams(window.location.search).get('lang'); "
        f"if ({tags}.includes(lang)) {{ {_remember_js('lang')} }} return args.slice(0, {inputs}); }}"
    )


def _plain(label: Any) -> Any:
    """A label of the API docs in English: Gradio would serialise an ``I18nData`` label as ``{"key": ...}``."""
    if isinstance(label, dict) and isinstance(label.get("key"), str):
        label = I18nData(label["key"])
    return localize(str(label), strings.DEFAULT_LANGUAGE) if isinstance(label, (str, I18nData)) else label


def readable_api(info: dict[str, Any], fns: Iterable[Any]) -> dict[str, Any]:
    """Gradio's API description (``view_api``, the page's "Use via API") with plain English labels, and a
    description for every parameter: the handler docstring's ``Args:`` line (Gradio's own convention, read by
    ``gradio.utils.get_function_description``), else the parameter's English label."""
    from gradio.utils import get_function_description

    documented = {f"/{fn.api_name}": fn.fn for fn in fns if fn.fn is not None and fn.api_name}
    for name, endpoint in info.get("named_endpoints", {}).items():
        fn = documented.get(name)
        described = get_function_description(fn)[1] if fn is not None else {}
        for p in endpoint.get("parameters", []):
            p["label"] = _plain(p.get("label"))
            python_type = p.setdefault("python_type", {})
            label = p["label"] if isinstance(p["label"], str) else ""
            own = described.get(p.get("parameter_name") or "", "") or label
            schema = p.get("type") if isinstance(p.get("type"), dict) else {}
            bounds = python_type.get("description") or schema.get("description", "")  # e.g. a slider's range
            python_type["description"] = "; ".join(t for t in (own, bounds) if t)
        for r in endpoint.get("returns", []):
            r["label"] = _plain(r.get("label"))
    return info
