import pytest
import torch

from omni.model.flow import TimestepSampler
from omni.training.loss import loss_by_mix, per_sample_mse, seeded_noise, seeded_timesteps


def test_noise_depends_on_the_key_only():
    like = torch.zeros(1)
    a = seeded_noise(torch.tensor([5, 9]), (2, 3), like)
    b = seeded_noise(torch.tensor([9, 5, 1]), (2, 3), like)
    assert torch.equal(a[0], b[1]) and torch.equal(a[1], b[0])
    assert not torch.equal(a[0], a[1])


def test_timesteps_seeded_and_in_range():
    sampler = TimestepSampler(shift=1.0)
    t = seeded_timesteps(torch.arange(200), sampler, 64, torch.zeros(1))
    assert t.shape == (200,) and (t > 0).all() and (t < 1).all()
    assert torch.equal(t[:3], seeded_timesteps(torch.arange(3), sampler, 64, torch.zeros(1)))
    assert t.mean().item() == pytest.approx(0.5, abs=0.05)


def test_per_sample_mse_and_mix_groups():
    pred = torch.zeros(3, 2, 2)
    target = torch.stack([torch.full((2, 2), v) for v in (1.0, 2.0, 3.0)])
    losses = per_sample_mse(pred, target)
    assert losses.tolist() == [1.0, 4.0, 9.0]
    active = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    groups = loss_by_mix(losses, active)
    assert groups["text+ref"][0].item() == 5.0 and groups["text+ref"][1] == 2
    assert groups["text+ref+audio"][0].item() == 4.0
    with pytest.raises(ValueError, match="must match"):
        per_sample_mse(pred, target[:2])
