"""A measurement's verdicts and its machine-noise line in the page's language.

The engine (:mod:`effnetv2.measure`) decides; this module only words its typed results, from the keys of
:mod:`.strings`, so that the Lab, the Latency tab and the walkthrough say the same thing the same way.
"""

from __future__ import annotations

import math

from ..measure import CANT_TELL, FASTER, SLOWER, Conditions, Difference
from .strings import DEFAULT_LANGUAGE, ui_text


def _pct(value: float) -> str:
    return f"{value:.0f}"


def verdict_text(diff: Difference, lang: str = DEFAULT_LANGUAGE, sum_ratio: float | None = None) -> str:
    """One sentence: "X is N% faster than Y (95% interval a-b%)", "can't tell (noise ±N%)" or "too noisy: why".

    ``sum_ratio``: the stage sum / end-to-end ratio that made the comparison too noisy, when no control did."""
    names = {"variant": diff.variant, "baseline": diff.baseline}
    if diff.verdict in (FASTER, SLOWER):
        x, lo, hi = diff.percent
        key = "v_faster" if diff.verdict == FASTER else "v_slower"
        return ui_text(key, lang).format(**names, x=_pct(x), lo=_pct(lo), hi=_pct(hi))
    if diff.verdict == CANT_TELL:
        return ui_text("v_cant_tell", lang).format(**names, n=_pct(diff.noise_pct))
    bad = [c for c in diff.controls if c.disagrees]
    if bad:
        worst = max(bad, key=lambda c: abs(math.log(c.ratio.value)))
        return ui_text("v_control", lang).format(**names, part=worst.name, pct=f"{100 * (worst.ratio.value - 1):+.0f}")
    ratio = 100 * sum_ratio if sum_ratio is not None else float("nan")
    return ui_text("v_sum", lang).format(**names, pct=_pct(ratio))


def noise_text(conditions: Conditions | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The machine-noise line (load, spread of identical runs, threads and why) and how the rounds went."""
    if conditions is None:
        return ""
    n = conditions.noise
    level = n.level.replace(" ", "_")
    t = n.threads
    if t is None:
        threads = ""
    elif t.one_ms is not None and t.all_ms is not None:
        threads = ui_text("threads_auto", lang).format(
            n=t.count, top=n.cores, all=f"{t.all_ms:.1f}", one=f"{t.one_ms:.1f}"
        )
    else:
        threads = ui_text("threads_fixed", lang).format(n=t.count)
    line = ui_text("noise_line", lang).format(
        level=ui_text(f"noise_{level}", lang),
        load="n/a" if n.load is None else f"{n.load:.1f}",
        cores=n.cores,
        spread=f"{n.spread:.1f}",
        threads=threads,
    )
    if conditions.stopped:
        stopped = ui_text(f"stopped_{conditions.stopped}", lang)
        rounds = ui_text("rounds_line", lang).format(
            rounds=conditions.rounds, seconds=f"{conditions.seconds:.1f}", stopped=stopped
        )
        line = f"{line} {rounds}"
    return line
