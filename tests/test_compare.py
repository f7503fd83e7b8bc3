import json

import pytest

from effnetv2.cli import main
from effnetv2.compare import NO_WEIGHTS_NOTE, compare, has_pretrained
from effnetv2.errors import BlocksError, BoundsError
from effnetv2.measure import VERDICTS
from effnetv2.stats import stats

SIZE = 64
FAST = {"image_size": SIZE, "runs": 2, "warmup": 0, "device": "cpu", "train_batch": 2, "train_steps": 1}


@pytest.fixture(scope="module")
def comparison():
    seen = []
    c = compare(
        "efficientnetv2_b0", ["MMMMMM", "FFFFFF"], [SIZE, 48], progress=lambda f, t: seen.append((f, t)), **FAST
    )
    return c, seen


def test_variants_are_every_combination_except_the_baseline(comparison):
    c, _ = comparison
    assert (c.baseline.blocks, c.baseline.image_size) == ("FFFMMM", SIZE)
    assert [(v.blocks, v.image_size) for v in c.variants] == [
        ("MMMMMM", SIZE), ("MMMMMM", 48), ("FFFFFF", SIZE), ("FFFFFF", 48)
    ]  # fmt: skip


def test_params_and_macs_come_from_stats(comparison):
    c, _ = comparison
    for v in [c.baseline, *c.variants]:
        s = stats("efficientnetv2_b0", v.blocks, v.image_size)
        assert (v.params, v.macs) == (s.params, s.macs)
        assert [st.macs for st in v.latency.stages] == [st.macs for st in s.stages]


def test_deltas_and_notes(comparison):
    c, _ = comparison
    b = c.baseline
    assert b.pretrained and b.note is None
    d = c.to_dict()
    for v, row in zip(c.variants, d["variants"], strict=True):
        assert not v.pretrained and row["note"] == NO_WEIGHTS_NOTE
        delta = row["delta"]
        assert delta["params"]["abs"] == v.params - b.params
        assert delta["macs"]["pct"] == pytest.approx(100 * (v.macs - b.macs) / b.macs)
        assert delta["total_ms"]["abs"] == pytest.approx(v.latency.total_ms - b.latency.total_ms)
        assert delta["images_per_s"]["abs"] == pytest.approx(v.images_per_s - b.images_per_s)
        assert set(delta["stages"]) == {s.name for s in b.latency.stages}
        assert delta["stages"]["stage4"]["abs"] == pytest.approx(
            v.latency.stage("stage4").median_ms - b.latency.stage("stage4").median_ms
        )
    # MBConv everywhere has fewer parameters than the published B0; Fused-MBConv everywhere more (paper, Table 3)
    by = {(v.blocks, v.image_size): v for v in c.variants}
    assert by["MMMMMM", SIZE].params < b.params < by["FFFFFF", SIZE].params
    assert by["MMMMMM", SIZE].macs > by["MMMMMM", 48].macs
    json.dumps(d)  # JSON-ready
    assert d["train_batch"] == 2 and d["runs"] == 2 and d["device"].startswith("cpu")


def test_progress_reaches_the_end(comparison):
    _, seen = comparison
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any("FFFFFF @ 48px" in t for _, t in seen)
    assert any(t.startswith("training: ") for _, t in seen)


def test_pretrained_only_for_published_blocks():
    assert has_pretrained("efficientnetv2_s", "FFFMMM")
    assert not has_pretrained("efficientnetv2_s", "MMMMMM")
    assert not has_pretrained("efficientnet_b0", "MMMMMMM")  # no V1 checkpoint in the registry


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ({"blocks": ["FFM"]}, BlocksError, "must be 6 letters"),
        ({"blocks": ["MMMMMM"], "image_sizes": [8]}, BoundsError, "image size must be from 32 to 1024"),
        ({"blocks": ["MMMMMM"], "train_batch": 1, "image_size": 32}, BoundsError, "batch 2 or more"),
        ({"blocks": ["M" * 6, "F" * 6, "MFMFMF", "FMFMFM", "MMFFMM", "FFMMFF", "MMMFFF", "FMMMMM", "MFFFFF"]},
         ValueError, "at most 8 variants"),
    ],
)  # fmt: skip
def test_bad_requests_fail_before_measuring(args, error, match):
    kwargs = {**FAST, **args}
    blocks = kwargs.pop("blocks")
    with pytest.raises(error, match=match):
        compare("efficientnetv2_b0", blocks, **kwargs)


def test_every_variant_has_verdicts_with_intervals(comparison):
    c, _ = comparison
    d = c.to_dict()
    assert d["noise"].startswith("machine ") and d["conditions"]["rounds"] >= 2
    for v in d["variants"]:
        for key, measure in (("latency_verdict", "latency"), ("training_verdict", "training step")):
            verdict = v[key]
            assert verdict["measure"] == measure and verdict["verdict"] in VERDICTS
            r = verdict["ratio"]
            assert r["low"] <= r["value"] <= r["high"]
    # controls: at the baseline's size, the stem, the head and the stages with the same letter; none across sizes
    by = {(v["blocks"], v["image_size"]): v for v in d["variants"]}
    names = [ctl["name"] for ctl in by["MMMMMM", SIZE]["latency_verdict"]["controls"]]
    assert names == ["stem", "stage4", "stage5", "stage6", "head"]
    assert by["MMMMMM", 48]["latency_verdict"]["controls"] == []


def test_same_blocks_and_size_is_an_a_a_comparison():
    c = compare("efficientnetv2_b0", ["FFFMMM"], train=False, **{**FAST, "runs": 3})
    assert [(v.blocks, v.image_size) for v in c.rows] == [("FFFMMM", SIZE), ("FFFMMM", SIZE)]
    (lat, train) = c.verdicts(0)
    assert train is None and lat.variant == f"FFFMMM @ {SIZE}px (A/A)"
    assert [ctl.name for ctl in lat.controls] == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]


def _scripted_stage_times(monkeypatch, slow_stages: dict[str, float]):
    """Replace each forward's measured times by known ones: every stage 1 ms (+-1% noise), MMMMMM's stages in
    ``slow_stages`` that many ms, the total their sum plus 0.1 ms."""
    import numpy as np

    from effnetv2 import profiling

    rng = np.random.default_rng(0)

    def scripted(self):
        out = {n: (slow_stages.get(n, 1.0) if self.model.blocks == "MMMMMM" else 1.0) for n in self.names}
        out = {n: t * float(np.exp(rng.normal(0, 0.01))) for n, t in out.items()}
        return {**out, "total": sum(out.values()) + 0.1}

    monkeypatch.setattr(profiling.StageTimer, "__call__", scripted)


def test_the_verdict_follows_known_stage_times(monkeypatch):
    """MMMMMM's stages 1-3 take 3 ms instead of 1 (its other stages as FFFMMM's): "slower", by the known ratio."""
    _scripted_stage_times(monkeypatch, {"stage1": 3.0, "stage2": 3.0, "stage3": 3.0})
    c = compare("efficientnetv2_b0", ["MMMMMM"], train=False, threads=1, **{**FAST, "runs": 8})
    lat, _ = c.verdicts(0)
    assert lat.verdict == "slower" and lat.ratio.value == pytest.approx(14.1 / 8.1, rel=0.03)
    assert not any(ctl.disagrees for ctl in lat.controls)


def test_a_same_stage_measured_apart_turns_the_verdict_into_too_noisy(monkeypatch):
    """The same timings, but stage5 (the same architecture in both) measured 3x slower in MMMMMM: noise, which
    the comparison must say instead of a result."""
    _scripted_stage_times(monkeypatch, {"stage1": 3.0, "stage2": 3.0, "stage3": 3.0, "stage5": 3.0})
    c = compare("efficientnetv2_b0", ["MMMMMM"], train=False, threads=1, **{**FAST, "runs": 8})
    lat, _ = c.verdicts(0)
    assert lat.verdict == "too noisy" and lat.reason.startswith("stage5 is the same in both")


def test_cli_compare_json_and_text(capsys):
    argv = ["compare", "efficientnetv2_b0", "--blocks", "MMMMMM", "--image-size", "64", "--runs", "1", "--warmup", "0"]
    assert main([*argv, "--no-train", "--json"]) == 0
    out = capsys.readouterr()
    d = json.loads(out.out)
    assert d["baseline"]["blocks"] == "FFFMMM" and d["variants"][0]["note"] == NO_WEIGHTS_NOTE
    assert d["baseline"]["images_per_s"] is None and d["variants"][0]["training_verdict"] is None
    assert d["variants"][0]["latency_verdict"]["verdict"] in VERDICTS and d["noise"].startswith("machine ")
    assert "[100%]" in out.err  # progress goes to stderr
    assert main([*argv, "--train-batch", "2"]) == 0
    text = capsys.readouterr().out
    assert "MMMMMM @ 64px vs baseline: params -" in text and NO_WEIGHTS_NOTE in text and "train images/s" in text
    assert text.startswith("machine ") and "latency: MMMMMM @ 64px vs FFFMMM @ 64px: " in text
    assert "training step: MMMMMM @ 64px vs FFFMMM @ 64px: " in text and "95% interval" in text


def test_cli_compare_errors_are_one_line(capsys):
    assert main(["compare", "efficientnetv2_b0", "--blocks", "XYZ"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be 6 letters" in err
