import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from omni.datamodules.conditions import (
    CONDITIONS,
    ConditionRatios,
    GuidanceDrop,
    close_downward,
    draw_active,
    draw_conditions,
    effective_rates,
    mix_counts,
    mix_name,
)
from omni.training.lightning_cli import config_dir

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


def _draws(ratios, drop, n=20000, eligible=ALL):
    pairs = [
        draw_conditions(ratios, eligible, np.random.default_rng([5, i]), drop) for i in range(n)
    ]
    return np.stack([a for a, _ in pairs]), np.stack([d for _, d in pairs])


def test_guidance_drop_trains_the_sampler_passes():
    """Audio stage: the closure rule alone never gives reference without text; the drop does."""
    ratios = ConditionRatios(text=0.9, ref=0.7, audio=0.5)
    closed, _ = _draws(ratios, None)
    assert not (closed[:, 1] & ~closed[:, 0]).any()  # ref on, text off: never
    drop = GuidanceDrop(text=0.1, audio=0.1)
    active, dropped = _draws(ratios, drop)
    rates = effective_rates(ratios, drop)
    for i, name in enumerate(CONDITIONS):
        assert active[:, i].mean() == pytest.approx(rates[name], abs=0.01), name
    assert rates["text"] == pytest.approx((1 - 0.1 * 0.3 * 0.5) * 0.9)
    assert rates["ref"] == pytest.approx(0.85)  # never dropped
    # each drop hits a tenth of the samples in which that condition was switched on
    was_on = active | dropped
    assert dropped[was_on[:, 0], 0].mean() == pytest.approx(0.1, abs=0.01)
    assert dropped[was_on[:, 2], 2].mean() == pytest.approx(0.1, abs=0.015)
    assert not (dropped & ~was_on).any() and not (dropped & active).any()
    # the unconditional pass of the chain text -> audio: reference on, text and audio off
    uncond = active[:, 1] & ~active[:, 0] & ~active[:, 2]
    assert uncond.mean() == pytest.approx(0.85 * 0.1 * (1 - 0.5 * 0.9), abs=0.01)
    # audio on without text: the drops are independent
    assert (active[:, 2] & ~active[:, 0]).mean() == pytest.approx(0.5 * 0.9 * 0.1, abs=0.01)


def test_guidance_drop_is_seeded_and_respects_eligibility():
    ratios, drop = ConditionRatios(0.5, 0.5, 0.5, 0.5), GuidanceDrop(0.3, 0.3, 0.3, 0.3)
    a = _draws(ratios, drop, 200)
    b = _draws(ratios, drop, 200)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    no_pose = np.array([True, True, True, False])
    active, dropped = _draws(ratios, drop, 500, no_pose)
    assert not active[:, 3].any() and not dropped[:, 3].any()
    with pytest.raises(ValueError, match="cfg_drop"):
        GuidanceDrop(text=-0.1)


def _documented_rates() -> dict[str, dict[str, float]]:
    """The stage table of docs/training.md: stage -> {condition: activity rate}."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    table = {}
    for stage, cell in re.findall(r"^\| `(\w+)` \| `OmniModule` \|.*\| ([^|]+) \|$", text, re.M):
        table[stage] = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", cell)}
    return table


def test_stage_yamls_match_the_documented_rates():
    documented = _documented_rates()
    assert set(documented) == {"t2v", "text_ref", "audio", "pose"}
    for stage, rates in documented.items():
        data = yaml.safe_load((config_dir() / "stages" / f"{stage}.yaml").read_text())["data"]
        drop = GuidanceDrop(**data["cfg_drop"]) if "cfg_drop" in data else None
        computed = effective_rates(ConditionRatios.from_dict(data["ratios"]), drop)
        assert {k: v for k, v in computed.items() if v > 0} == pytest.approx(rates, abs=0.005), (
            stage
        )
