import numpy as np
import pytest

from omni.datamodules.conditions import (
    CONDITIONS,
    ConditionRatios,
    close_downward,
    draw_active,
    effective_rates,
    mix_counts,
    mix_name,
)

ALL = np.ones(4, bool)


def test_closure_activates_weaker_within_eligibility():
    drawn = np.array([False, False, False, True])  # only pose drawn
    assert close_downward(drawn, ALL).tolist() == [True, True, True, True]
    # a pose clip without usable audio: pose switches on text and ref, not audio
    eligible = np.array([True, True, False, True])
    assert close_downward(drawn, eligible).tolist() == [True, True, False, True]
    # an ineligible draw switches nothing on
    assert close_downward(drawn, np.array([True, True, True, False])).tolist() == [False] * 4


def test_draw_is_reproducible_and_respects_eligibility():
    ratios = ConditionRatios(text=0.5, ref=0.5, audio=0.5, pose=0.5)
    a = [draw_active(ratios, ALL, np.random.default_rng([3, i])) for i in range(50)]
    b = [draw_active(ratios, ALL, np.random.default_rng([3, i])) for i in range(50)]
    assert all((x == y).all() for x, y in zip(a, b, strict=False))
    no_audio = np.array([True, True, False, False])
    for i in range(200):
        active = draw_active(ratios, no_audio, np.random.default_rng(i))
        assert not active[2] and not active[3]


def test_effective_rates_match_simulation():
    ratios = ConditionRatios(text=0.45, ref=0.35, audio=0.25, pose=0.5)
    rates = effective_rates(ratios)
    assert rates["pose"] == pytest.approx(0.5)
    assert rates["audio"] == pytest.approx(1 - 0.75 * 0.5)
    rng = np.random.default_rng(0)
    draws = np.stack([draw_active(ratios, ALL, rng) for _ in range(20000)])
    for i, name in enumerate(CONDITIONS):
        assert draws[:, i].mean() == pytest.approx(rates[name], abs=0.015)
    # every draw is nested: an active condition implies all weaker ones
    assert (np.diff(draws.astype(int), axis=1) <= 0).all()


def test_stage_ratio_zero_never_activates():
    ratios = ConditionRatios(text=0.9, ref=0.7, audio=0.5)
    assert ratios.used() == ("text", "ref", "audio")
    rng = np.random.default_rng(0)
    assert not any(draw_active(ratios, ALL, rng)[3] for _ in range(500))


def test_bad_ratios_are_user_errors():
    with pytest.raises(ValueError, match="probability"):
        ConditionRatios(audio=1.5)
    with pytest.raises(ValueError, match="unknown condition"):
        ConditionRatios.from_dict({"audoi": 0.5})


def test_mix_names_and_counts():
    active = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
    assert mix_name(active[1]) == "text+ref+audio"
    assert mix_counts(active) == {"text+ref": 2, "text+ref+audio": 1, "none": 1}
