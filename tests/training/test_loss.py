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


def test_motion_weights_favour_moving_cells_and_average_one():
    from omni.training.loss import motion_weights

    x0 = torch.zeros(2, 4, 5, 8, 8)
    x0[0, :, :, 2, 3] = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0])[None, :]  # one moving cell
    x0[1] += torch.randn(4, 1, 8, 8)  # sample 1: a still window (content, no change over time)
    w = motion_weights(x0, strength=30.0)
    assert w.shape == (2, 1, 1, 8, 8)
    assert torch.allclose(w.flatten(1).mean(1), torch.ones(2), atol=1e-5)
    assert torch.allclose(w[1], torch.ones_like(w[1]), atol=1e-5)  # nothing moves: plain MSE
    assert w[0, 0, 0, 2, 3] / w[0, 0, 0, 0, 0] == pytest.approx(31.0, rel=1e-4)
    assert motion_weights(x0, 0.0) is None and motion_weights(x0[:, :, :1], 30.0) is None
    # the same squared error costs 31 times more on the moving cell than on a still one
    target = torch.zeros(1, 4, 5, 8, 8)
    on_mouth, on_wall = target.clone(), target.clone()
    on_mouth[..., 2, 3], on_wall[..., 0, 0] = 1.0, 1.0
    ratio = per_sample_mse(on_mouth, target, w[:1]) / per_sample_mse(on_wall, target, w[:1])
    assert ratio.item() == pytest.approx(31.0, rel=1e-4)
