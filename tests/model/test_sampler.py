import math

import pytest
import torch

from omni.model.conditions import Conditions
from omni.model.sampler import FlowSampler, GuidanceScale, GuidanceTerm, guidance_weights


def _cond(b=2):
    g = torch.Generator().manual_seed(0)
    return Conditions(
        text=torch.randn(b, 3, 4, generator=g, dtype=torch.float64),
        audio=torch.randn(b, 5, 2, generator=g, dtype=torch.float64),
    )


def _field(x, t, cond):
    """A velocity that depends on which conditions each row has on (float64)."""
    b = x.shape[0]
    text = cond.is_active("text", b).to(x.dtype).view(b, 1)
    audio = cond.is_active("audio", b).to(x.dtype).view(b, 1)
    return torch.sin(x) + 0.7 * text * x**2 - 1.3 * audio * torch.cos(3 * x) + 0.1 * t.view(b, 1)


def test_cfg_matches_the_nested_formula_in_float64():
    cond = _cond()
    x = torch.randn(2, 6, dtype=torch.float64)
    t = torch.full((2,), 0.4, dtype=torch.float64)
    s_text, s_audio = 4.5, 2.5
    sampler = FlowSampler(
        guidance=[
            GuidanceTerm("text", GuidanceScale(s_text)),
            GuidanceTerm("audio", GuidanceScale(s_audio)),
        ]
    )
    got = sampler.guided_velocity(_field, x, t, cond, step=0)
    v0 = _field(x, t, cond.with_active(text=False, audio=False))
    vt = _field(x, t, cond.with_active(audio=False))
    vta = _field(x, t, cond)
    want = v0 + s_text * (vt - v0) + s_audio * (vta - vt)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert sampler.stats.forwards == 1 and sampler.stats.rows == 6  # three passes, one call


def test_weights_sum_to_one_and_unit_scales_skip_passes():
    assert guidance_weights([4.0, 2.0]) == [-3.0, 2.0, 2.0]
    assert sum(guidance_weights([7.5, 0.3, 2.0])) == pytest.approx(1.0)
    cond = _cond()
    x = torch.randn(2, 6, dtype=torch.float64)
    t = torch.full((2,), 0.4, dtype=torch.float64)
    plain = FlowSampler(
        guidance=[
            GuidanceTerm("text", GuidanceScale(1.0)),
            GuidanceTerm("audio", GuidanceScale(1.0)),
        ]
    )
    torch.testing.assert_close(plain.guided_velocity(_field, x, t, cond, 0), _field(x, t, cond))
    assert plain.stats.rows == 2 and plain.stats.passes_skipped == 2
    # audio scale 0: v = v0 + s (v_text - v0); the text+audio pass is skipped
    no_audio = FlowSampler(
        guidance=[
            GuidanceTerm("text", GuidanceScale(3.0)),
            GuidanceTerm("audio", GuidanceScale(0.0)),
        ]
    )
    got = no_audio.guided_velocity(_field, x, t, cond, 0)
    v0 = _field(x, t, cond.with_active(text=False, audio=False))
    vt = _field(x, t, cond.with_active(audio=False))
    torch.testing.assert_close(got, v0 + 3.0 * (vt - v0), rtol=0, atol=1e-12)
    assert no_audio.stats.rows == 4


def test_rows_without_a_condition_keep_it_off_in_every_pass():
    cond = _cond().with_active(audio=torch.tensor([True, False]))
    x = torch.randn(2, 6, dtype=torch.float64)
    t = torch.full((2,), 0.4, dtype=torch.float64)
    sampler = FlowSampler(guidance=[GuidanceTerm("audio", GuidanceScale(3.0))])
    got = sampler.guided_velocity(_field, x, t, cond, 0)
    torch.testing.assert_close(got[1], _field(x, t, cond.with_active(audio=False))[1])


def test_annealing_schedules_and_skipping_annealed_passes():
    lin = GuidanceScale(5.0, 1.0, "linear")
    cos = GuidanceScale(5.0, 1.0, "cosine")
    assert [lin.at(p) for p in (0, 0.5, 1)] == [5.0, 3.0, 1.0]
    assert (
        cos.at(0) == 5.0 and cos.at(0.5) == pytest.approx(3.0) and cos.at(1) == pytest.approx(1.0)
    )
    assert cos.at(0.25) > lin.at(0.25)  # cosine stays high longer
    assert GuidanceScale(5.0, 1.0).at(0.7) == 5.0  # constant ignores end
    with pytest.raises(ValueError, match="schedule"):
        GuidanceScale(1.0, schedule="exp")
    # audio annealed 2 -> 0 over 5 Euler steps (2, 1.5, 1, 0.5, 0): at scale 1 the unconditional
    # pass has weight 0, at scale 0 the audio pass does; both are skipped
    sampler = FlowSampler(
        steps=5, guidance=[GuidanceTerm("audio", GuidanceScale(2.0, 0.0, "linear"))]
    )
    sampler.sample(_field, torch.randn(2, 6, dtype=torch.float64), _cond())
    assert sampler.stats.forwards == 5
    assert sampler.stats.rows == 2 * (2 + 2 + 1 + 2 + 1)
    assert sampler.stats.passes_skipped == 2


def test_euler_is_exact_on_a_straight_path_and_heun_is_second_order():
    x0 = torch.randn(3, 4, dtype=torch.float64)
    eps = torch.randn(3, 4, dtype=torch.float64)
    cond = Conditions(text=torch.zeros(3, 1, 1, dtype=torch.float64))
    out = FlowSampler(steps=3, shift=3.0).sample(lambda x, t, c: eps - x0, eps, cond)
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-12)

    def decay(x, t, c):  # dx/dt = x: from x(1) = 1, x(0) = 1/e
        return x

    errors = {}
    for solver in ("euler", "heun"):
        errors[solver] = [
            (FlowSampler(steps=n, solver=solver).sample(decay, torch.ones(1, 1, dtype=torch.float64), cond)
             - math.exp(-1)).abs().item()
            for n in (8, 16)
        ]  # fmt: skip
    assert errors["euler"][0] / errors["euler"][1] == pytest.approx(2.0, rel=0.1)
    assert errors["heun"][0] / errors["heun"][1] == pytest.approx(4.0, rel=0.15)
    sampler = FlowSampler(steps=8, solver="heun")
    sampler.sample(decay, torch.ones(1, 1, dtype=torch.float64), cond)
    assert sampler.stats.forwards == 15  # the last step lands on t = 0 with Euler


def test_bad_guidance_is_an_error():
    with pytest.raises(ValueError, match="unknown condition 'lips'"):
        GuidanceTerm("lips")
    with pytest.raises(ValueError, match=r"needs cond\.audio"):
        FlowSampler(guidance=[GuidanceTerm("audio")]).sample(
            _field, torch.zeros(1, 2), Conditions(text=torch.zeros(1, 1, 1))
        )
    with pytest.raises(ValueError, match="solver"):
        FlowSampler(solver="rk4")
