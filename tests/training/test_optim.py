"""The learning-rate schedule: linear warm-up, then constant or a cosine decay."""

import itertools
import math

import pytest
import torch

from omni.training.optim import adamw_with_warmup, schedule_factor


def test_constant_after_warmup_by_default():
    assert [schedule_factor(s, 4) for s in (0, 1, 3, 10, 1000)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert schedule_factor(500, 4, total_steps=100) == 1.0  # no decay without final_ratio < 1


def test_cosine_decay_to_the_final_ratio():
    f = [schedule_factor(s, 10, total_steps=110, final_ratio=0.1) for s in range(0, 200)]
    assert f[9] == 1.0 and f[10] == 1.0  # warm-up ends at 1, decay starts there
    assert f[60] == pytest.approx(0.1 + 0.9 * 0.5)  # half way: the cosine's midpoint
    assert f[110] == pytest.approx(0.1) and f[199] == pytest.approx(0.1)  # held after the end
    assert all(a >= b for a, b in itertools.pairwise(f[10:]))  # never increases
    assert f[30] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.2)))


def test_scheduler_steps_the_optimizer_lr():
    p = torch.nn.Parameter(torch.zeros(2))
    conf = adamw_with_warmup([p], 1e-2, 0.0, 2, total_steps=6, final_ratio=0.0)
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:2] == pytest.approx([5e-3, 1e-2])
    assert lrs[6] == pytest.approx(0.0, abs=1e-12) and lrs[4] == pytest.approx(5e-3)
    with pytest.raises(ValueError, match="final learning-rate ratio"):
        adamw_with_warmup([p], 1e-2, 0.0, 2, final_ratio=1.5)
