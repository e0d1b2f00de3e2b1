import pytest
import torch
from torch import nn

from omni.training.ema import EMA


def _net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net[0].weight.requires_grad_(False)  # frozen: not tracked
    return net


def test_update_is_the_exponential_average():
    net = _net()
    ema = EMA(net, decay=0.9, warmup=False)
    assert set(ema.shadow) == {"0.bias", "1.weight", "1.bias"}
    start = net[1].weight.detach().clone()
    with torch.no_grad():
        net[1].weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.shadow["1.weight"], start + 0.1)
    with torch.no_grad():
        net[1].weight.add_(1.0)
    ema.update(net)
    # e2 = 0.9 e1 + 0.1 p2 = 0.9 (s + 0.1) + 0.1 (s + 2)
    assert torch.allclose(ema.shadow["1.weight"], start + 0.29, atol=1e-6)


def test_warmup_ramps_the_decay():
    ema = EMA(_net(), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.updates = 10_000
    assert ema.current_decay() == 0.999


def test_swapped_restores_trained_weights():
    net = _net()
    ema = EMA(net, decay=0.5, warmup=False)
    trained = net[1].weight.detach().clone()
    ema.shadow["1.weight"].fill_(7.0)
    with ema.swapped(net):
        assert (net[1].weight == 7.0).all()
    assert torch.equal(net[1].weight, trained)


def test_state_round_trip_and_mismatch():
    net = _net()
    ema = EMA(net, decay=0.5)
    ema.update(net)
    other = EMA(_net(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 1
    assert all(torch.equal(other.shadow[k], ema.shadow[k]) for k in ema.shadow)
    with pytest.raises(ValueError, match="do not match"):
        EMA(nn.Linear(3, 4)).load_state_dict(ema.state_dict())
