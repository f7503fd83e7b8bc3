"""Text that reaches a visitor: one line, no path of the server, no user value echoed at length, no markup.

The engine's messages are written for the person at the machine (the CLI says where the Hugging Face cache
is, which file is corrupt); a web page shows the same message to every visitor. :func:`visitor_text` is the
one filter every error and notice passes on its way to the page or an API client.
"""

from __future__ import annotations

import re

from ..errors import SHORT

LIMIT = 500
"""The longest line a visitor gets; a longer one is cut, with the cut said."""

_PATH = re.compile(r"(?<![\w:/.~-])(?:~|[A-Za-z]:)?(?:[/\\][\w.@+%=,-]+)+[/\\]?")
"""An absolute path (POSIX, Windows or ``~``) that is not part of a URL (``https://host/...``) or a relative path."""
ROUTES = "/gradio_api/"
"""The app's own URL paths, named in messages (``POST /gradio_api/upload``): not server paths."""
_QUOTED = re.compile(rf"(?<!\w)(?:'[^'\n]{{{SHORT},}}'|\"[^\"\n]{{{SHORT},}}\")(?!\w)")
"""A quoted value (a ``repr``) of :data:`SHORT` characters or more; an apostrophe inside a word opens none."""
_LONG = re.compile(rf"\S{{{2 * SHORT},}}")
"""A word of twice :data:`SHORT` characters or more: a value echoed without quotes (Gradio's ``Value: bbbb...``)."""
_MARKUP = re.compile(r"<(?=[A-Za-z/!?])")
"""Where an HTML parser would open a tag (``<a``, ``</form``), a comment or a declaration (``<!``, ``<?``)."""


def _hide_path(match: re.Match) -> str:
    """A path of two parts or more loses all but its last; ``/classify`` and the app's own routes stay."""
    path = match.group(0)
    parts = [p for p in re.split(r"[/\\]", path) if p]
    return path if len(parts) < 2 or path.startswith(ROUTES) else f"…/{parts[-1]}"


def _cut_quoted(match: re.Match) -> str:
    text = match.group(0)
    return f"{text[: SHORT - 1]}…{text[0]} ({len(text) - 2} characters)"


def _cut_long(match: re.Match) -> str:
    text = match.group(0)
    return f"{text[: SHORT - 1]}… ({len(text)} characters)"


def without_paths(text: str) -> str:
    """``text`` with each absolute server path reduced to its last part (``…/model.safetensors``: which file,
    not where) and each long quoted value or word cut: for a notice every visitor sees (the Classify banner)."""
    return _LONG.sub(_cut_long, _QUOTED.sub(_cut_quoted, _PATH.sub(_hide_path, text)))


def inert(text: str) -> str:
    """``text`` with every ``<`` that could open an HTML tag, comment or declaration written ``&lt;``: Gradio renders
    an error's message as HTML (a live link, a form; it strips scripts only), and a message quotes what a user
    sent. ``<=`` and ``a < b`` stay as they are: no HTML parser opens a tag there."""
    return _MARKUP.sub("&lt;", text)


def visitor_text(message: object) -> str:
    """``message`` as a visitor may see it: its first line, :func:`without_paths`, no markup (:func:`inert`), at
    most :data:`LIMIT` characters."""
    text = str(message).strip()
    line = inert(without_paths(text.splitlines()[0].strip() if text else ""))
    return line if len(line) <= LIMIT else f"{line[: LIMIT - 1]}… ({len(line)} characters)"


def error_text(exc: BaseException) -> str:
    """An exception as one visitor line: its message, or its type when it has none."""
    return visitor_text(exc) or type(exc).__name__
