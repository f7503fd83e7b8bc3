"""The names of a network's parts, made in one place: ``stem``, ``stage1`` ... ``stageN``, ``head``."""

from __future__ import annotations

STEM = "stem"
HEAD = "head"


def stage_name(number: int) -> str:
    """The name of stage ``number`` (1-based, as in the paper's tables)."""
    return f"stage{number}"


def stage_names(count: int) -> list[str]:
    """``stage1`` ... ``stage<count>``."""
    return [stage_name(i) for i in range(1, count + 1)]


def part_names(count: int) -> list[str]:
    """Every timed or hooked part in forward order: stem, the ``count`` stages, head."""
    return [STEM, *stage_names(count), HEAD]
