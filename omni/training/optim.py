"""AdamW with a linear warm-up (and an optional cosine decay), as Lightning's
`configure_optimizers` return value."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: (step + 1) / warmup_steps up to 1, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def schedule_factor(
    step: int, warmup_steps: int, total_steps: int = 0, final_ratio: float = 1.0
) -> float:
    """Learning-rate multiplier: the linear warm-up, then (with `total_steps` > `warmup_steps`
    and `final_ratio` < 1) a cosine from 1 down to `final_ratio` at `total_steps`, held after."""
    factor = warmup_factor(step, warmup_steps)
    if final_ratio >= 1.0 or total_steps <= warmup_steps or step < warmup_steps:
        return factor
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def adamw_with_warmup(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    betas: tuple[float, float] = (0.9, 0.999),
    total_steps: int = 0,
    final_ratio: float = 1.0,
) -> dict:
    if not 0.0 <= final_ratio <= 1.0:
        raise ValueError(f"final learning-rate ratio must be in [0, 1], got {final_ratio}")
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(
            "no trainable parameters: the stage's `trainable` patterns matched nothing; "
            "expected at least one parameter name to match"
        )
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_factor(step, warmup_steps, total_steps, final_ratio)
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
