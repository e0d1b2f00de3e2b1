"""AdamW with a linear warm-up, as Lightning's `configure_optimizers` return value."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: (step + 1) / warmup_steps up to 1, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def adamw_with_warmup(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    warmup_steps: int,
    betas: tuple[float, float] = (0.9, 0.999),
) -> dict:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(
            "no trainable parameters: the stage's `trainable` patterns matched nothing; "
            "expected at least one parameter name to match"
        )
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_factor(step, warmup_steps)
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
