import math

import pytest
import torch

from omni.model.flow import (
    TimestepSampler,
    inference_times,
    noise_from_velocity,
    resolution_shift,
    sample_path,
    shift_time,
    x0_from_velocity,
)


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(3, 2, 5, 4, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 2, 5, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.93], dtype=torch.float64)
    return x0, eps, t


def test_path_endpoints_are_data_and_noise():
    x0, eps, _ = _data()
    assert torch.equal(sample_path(x0, eps, torch.zeros(3, dtype=torch.float64)).x_t, x0)
    assert torch.equal(sample_path(x0, eps, torch.ones(3, dtype=torch.float64)).x_t, eps)


def test_target_is_time_derivative_of_path():
    x0, eps, t = _data()
    h = 1e-6
    fd = (sample_path(x0, eps, t + h).x_t - sample_path(x0, eps, t - h).x_t) / (2 * h)
    torch.testing.assert_close(fd, sample_path(x0, eps, t).target, rtol=0, atol=1e-8)
    torch.testing.assert_close(sample_path(x0, eps, t).target, eps - x0, rtol=0, atol=0)


def test_endpoints_recovered_from_velocity():
    x0, eps, t = _data(1)
    s = sample_path(x0, eps, t)
    torch.testing.assert_close(x0_from_velocity(s.x_t, s.target, t), x0, rtol=0, atol=1e-12)
    torch.testing.assert_close(noise_from_velocity(s.x_t, s.target, t), eps, rtol=0, atol=1e-12)


def test_shift_time_fixes_ends_is_monotone_and_inverts():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for s in (0.5, 1.0, 3.0, 7.0):
        u = shift_time(t, s)
        assert u[0] == 0 and u[-1] == 1
        assert torch.all(u[1:] > u[:-1])
        torch.testing.assert_close(shift_time(u, 1 / s), t, rtol=0, atol=1e-12)
    torch.testing.assert_close(shift_time(t, 1.0), t)
    assert shift_time(torch.tensor(0.5, dtype=torch.float64), 3.0).item() == pytest.approx(0.75)


def test_resolution_shift_grows_with_sqrt_of_tokens():
    assert resolution_shift(1024) == 1.0
    assert resolution_shift(4096, 1024, 1.5) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="positive"):
        resolution_shift(0)


def test_logit_normal_sampler_statistics_and_shift():
    g = torch.Generator().manual_seed(0)
    t = TimestepSampler(mean=0.0, std=1.0, shift=1.0).sample(20000, 64, generator=g)
    assert t.min() > 0 and t.max() < 1
    assert t.median().item() == pytest.approx(0.5, abs=0.02)
    logit = torch.log(t / (1 - t))
    assert logit.std().item() == pytest.approx(1.0, abs=0.03)
    # resolution shift: 4x the tokens -> shift 2 -> median sigmoid(0) maps to 2/3
    sampler = TimestepSampler(base_tokens=256)
    t = sampler.sample(20000, 1024, generator=torch.Generator().manual_seed(0))
    assert t.median().item() == pytest.approx(2 / 3, abs=0.02)
    a = sampler.sample(8, 1024, generator=torch.Generator().manual_seed(5))
    b = sampler.sample(8, 1024, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_inference_times_run_from_noise_to_data():
    ts = inference_times(4, shift=3.0)
    assert ts.shape == (5,) and ts[0] == 1 and ts[-1] == 0
    assert ts[2].item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="steps"):
        inference_times(0)


def test_shape_errors_say_expected_and_got():
    x0, eps, _ = _data()
    with pytest.raises(ValueError, match=r"\(B,\) = \(3,\)"):
        sample_path(x0, eps, torch.zeros(2))
    with pytest.raises(ValueError, match="must match"):
        sample_path(x0, eps[:, :1], torch.zeros(3))
    assert math.isclose(resolution_shift(1024, 1024, 2.0), 2.0)
