"""The measurement core (effnetv2.measure): intervals, verdicts and controls against synthetic timings with known
ratios and known noise, and the interleaved loop, warm-up and thread choice driven by scripted subjects."""

import itertools

import numpy as np
import pytest

from effnetv2 import measure
from effnetv2.errors import BoundsError
from effnetv2.measure import (
    CANT_TELL,
    FASTER,
    SLOWER,
    TOO_NOISY,
    TOTAL,
    Control,
    Interval,
    Schedule,
    Timings,
    difference,
    interleave,
    median_interval,
    ratio_interval,
    verdict_of,
)


def _timings(baseline: dict[str, list[float]], variant: dict[str, list[float]]) -> Timings:
    return Timings({"A": baseline, "B": variant}, {"A": 1, "B": 1}, rounds=len(baseline[TOTAL]))


def _noisy(rng, n, sigma, scale=1.0):
    return list(scale * 100 * np.exp(rng.normal(0, sigma, n)))


def test_median_interval_contains_the_median_and_narrows_with_less_noise():
    rng = np.random.default_rng(0)
    wide, tight = median_interval(_noisy(rng, 20, 0.3)), median_interval(_noisy(rng, 20, 0.01))
    for iv in (wide, tight):
        assert iv.low <= iv.value <= iv.high
    assert tight.noise < 0.02 < wide.noise
    assert median_interval([5.0]) == Interval(5.0, 5.0, 5.0)
    with pytest.raises(ValueError):
        median_interval([])


def test_a_known_ratio_is_found_with_its_interval():
    rng = np.random.default_rng(1)
    base = _noisy(rng, 20, 0.03)
    iv = ratio_interval(base, _noisy(rng, 20, 0.03, scale=0.8))
    assert iv.low < 0.8 < iv.high and iv.high < 0.9
    assert verdict_of(iv) == (FASTER, "")
    assert verdict_of(ratio_interval(base, _noisy(rng, 20, 0.03, scale=1.25)))[0] == SLOWER


def test_pairing_by_round_removes_shared_drift():
    """A drift that slows both sides of a round alike (another job starting and stopping) must not hide a
    10% difference: whole rounds are resampled, so the pair stays together."""
    rng = np.random.default_rng(2)
    drift = 1 + 3 * rng.random(30)  # rounds up to 4x slower, both sides alike
    base = 100 * drift * np.exp(rng.normal(0, 0.01, 30))
    variant = 90 * drift * np.exp(rng.normal(0, 0.01, 30))
    iv = ratio_interval(list(base), list(variant))
    assert iv.high < 0.95 and verdict_of(iv)[0] == FASTER


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_a_a_with_known_noise_rarely_says_different(sigma):
    """Identical configurations under iid noise: "faster"/"slower" in at most 5% of 200 synthetic trials."""
    rng = np.random.default_rng(3)
    said = 0
    for _ in range(200):
        verdict, _ = verdict_of(ratio_interval(_noisy(rng, 15, sigma), _noisy(rng, 15, sigma)))
        said += verdict in (FASTER, SLOWER)
    assert said / 200 <= 0.05


def test_a_difference_within_the_resolution_is_never_called_one():
    assert verdict_of(Interval(0.985, 0.982, 0.988))[0] == CANT_TELL  # tight, but under 2%
    assert verdict_of(Interval(0.95, 0.90, 1.01))[0] == CANT_TELL  # the interval reaches "equal"


def test_a_control_that_disagrees_makes_the_comparison_too_noisy():
    rng = np.random.default_rng(4)
    same = _noisy(rng, 20, 0.02)
    base = {TOTAL: _noisy(rng, 20, 0.02), "stage4": same, "stage5": _noisy(rng, 20, 0.02)}
    # the variant is 30% faster overall, but its stage5 (the same architecture) measured 40% slower: noise
    variant = {TOTAL: _noisy(rng, 20, 0.02, 0.7), "stage4": same, "stage5": _noisy(rng, 20, 0.02, 1.4)}
    d = difference(_timings(base, variant), "latency", "A", "B", controls=["stage4", "stage5"])
    assert d.verdict == TOO_NOISY and d.reason.startswith("stage5 is the same in both and measured +4")
    assert [c.disagrees for c in d.controls] == [False, True]
    # the same timings with stage5 in line: the difference stands
    variant["stage5"] = base["stage5"]
    assert difference(_timings(base, variant), "latency", "A", "B", controls=["stage4", "stage5"]).verdict == FASTER


def test_a_stage_sum_that_disagrees_makes_it_too_noisy():
    verdict, reason = verdict_of(Interval(0.5, 0.45, 0.55), agreement="the stages add up to 70%")
    assert verdict == TOO_NOISY and reason == "the stages add up to 70%"


def test_control_tolerance_is_a_band_around_equal():
    assert not Control("stage4", Interval(1.08, 1.05, 1.12)).disagrees  # interval reaches inside 10%
    assert Control("stage4", Interval(1.2, 1.15, 1.25)).disagrees
    assert Control("stage4", Interval(0.8, 0.75, 0.85)).disagrees


def test_sentences_and_percentages():
    faster = measure.Difference("latency", "MMMMMM", "FFFMMM", Interval(0.8, 0.75, 0.85), FASTER)
    x, lo, hi = faster.percent
    assert (round(x), round(lo), round(hi)) == (25, 18, 33)  # the slower one takes 25% more time
    assert faster.sentence() == "latency: FFFMMM vs MMMMMM: 25% faster (95% interval 18-33%)"
    slower = measure.Difference("latency", "a", "b", Interval(1.25, 1.2, 1.3), SLOWER)
    assert [round(v) for v in slower.percent] == [25, 20, 30]
    cant = measure.Difference("latency", "a", "b", Interval(1.0, 0.9, 1.1), CANT_TELL)
    assert cant.sentence().endswith("can't tell on this machine right now (noise +-10%)")
    d = faster.to_dict()
    assert d["verdict"] == FASTER and d["ratio"]["low"] == 0.75 and d["sentence"] == faster.sentence()


class Scripted:
    """A subject whose call returns the next scripted time and logs its name in a shared list."""

    def __init__(self, name, times, log):
        self.name, self.times, self.log = name, iter(times), log

    def __call__(self):
        self.log.append(self.name)
        return {TOTAL: next(self.times)}


def test_interleave_warms_until_steady_then_rotates():
    log = []
    a = Scripted("a", itertools.chain([50.0, 20.0, 10.0, 10.2], itertools.repeat(10.0)), log)  # steady at run 4
    b = Scripted("b", itertools.chain([30.0, 30.5], itertools.repeat(20.0)), log)  # steady at its 2nd
    t = interleave({"a": a, "b": b}, Schedule(min_rounds=4, max_rounds=4, budget_s=60))
    assert t.warmup == {"a": 4, "b": 2}
    assert log == ["a"] * 4 + ["b"] * 2 + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert t.rounds == 4 and t.stopped == "max rounds" and t.of("b") == [20.0] * 4


def test_interleave_stops_once_the_ratio_is_tight():
    log = []
    a = Scripted("a", itertools.repeat(10.0), log)
    b = Scripted("b", itertools.repeat(8.0), log)
    t = interleave({"a": a, "b": b}, Schedule(min_rounds=5, max_rounds=30, budget_s=60, precision=0.02))
    assert (t.rounds, t.stopped) == (5, "precision")  # exact times: the interval is a point at once


def test_interleave_stops_at_its_budget():
    rng = np.random.default_rng(5)
    a = Scripted("a", (float(v) for v in _noisy(rng, 10_000, 0.5)), [])
    t = interleave({"a": a}, Schedule(min_rounds=2, max_rounds=10_000, budget_s=0.05, precision=0.0))
    assert t.stopped == "budget" and 2 <= t.rounds < 10_000


def test_fixed_schedule_runs_exactly():
    a = Scripted("a", itertools.repeat(1.0), [])
    t = interleave({"a": a}, Schedule.fixed(7, 0))
    assert t.rounds == 7 and t.stopped == "max rounds"


def test_choose_threads_picks_one_thread_when_all_threads_stall(monkeypatch):
    """On a busy 2-core machine two OpenMP threads can wait on each other: "auto" must then pick 1."""
    import torch

    monkeypatch.setattr(measure, "available_threads", lambda: 2)
    before = torch.get_num_threads()
    clock = iter(itertools.count(0.0, 0.001))
    stall = {1: 0.010, 2: 0.080}  # seconds per call at each thread count

    def fake_counter():
        return next(clock)

    def call():  # advance the fake clock by the current thread count's cost
        nonlocal clock
        now = next(clock)
        clock = iter(itertools.count(now + stall[torch.get_num_threads()], 0.001))

    monkeypatch.setattr(measure.time, "perf_counter", fake_counter)
    with measure.threads_used(call) as chosen:
        assert chosen.count == 1 and torch.get_num_threads() == 1
        assert chosen.all_ms > chosen.one_ms and "2 threads took" in chosen.reason
    assert torch.get_num_threads() == before  # restored for the next request
    stall.update({1: 0.080, 2: 0.010})
    with measure.threads_used(call) as chosen:
        assert chosen.count == 2
    with measure.threads_used(call, 1) as chosen:
        assert (chosen.count, chosen.reason) == (1, "asked for")


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True, None, 10_000])
def test_parse_threads_refuses_in_one_line(value):
    with pytest.raises(BoundsError, match="threads must be auto or 1-") as e:
        measure.parse_threads(value)
    assert "\n" not in str(e.value)


def test_parse_threads_accepts_auto_and_counts():
    assert measure.parse_threads(" Auto ") == "auto"
    assert measure.parse_threads(1) == 1 and measure.parse_threads("1") == 1


def test_noise_line_says_load_spread_and_threads():
    noise = measure.machine_noise(measure.Threads(1, "asked for"))
    line = noise.line()
    assert line.startswith("machine ") and "identical runs vary" in line and "1 thread (asked for)" in line
    assert noise.spread >= 0 and noise.cores >= 1
