"""The flow-matching objective, with noise and timesteps seeded per sample.

Each sample's noise and timestep come from its own `key` (set by the datamodule from seed,
epoch and clip), so a sample gets the same noise whichever rank, worker or batch it lands in:
a 2-process run and a 1-process run on the same global batch compute the same loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from omni.datamodules.conditions import mix_name
from omni.model.flow import TimestepSampler


def _generator(key: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(key) & 0x7FFF_FFFF_FFFF_FFFF)


def seeded_noise(keys: Tensor, shape: Sequence[int], like: Tensor) -> Tensor:
    """(B, *shape) standard normal noise, row b drawn from keys[b] (on CPU, then moved)."""
    rows = [torch.randn(tuple(shape), generator=_generator(k)) for k in keys.tolist()]
    return torch.stack(rows).to(device=like.device, dtype=like.dtype)


def seeded_timesteps(
    keys: Tensor, sampler: TimestepSampler, num_tokens: int, like: Tensor
) -> Tensor:
    """(B,) training timesteps, row b drawn from keys[b] + 1 (independent of its noise)."""
    rows = [sampler.sample(1, num_tokens, generator=_generator(k + 1)) for k in keys.tolist()]
    return torch.cat(rows).to(device=like.device, dtype=like.dtype)


def per_sample_mse(prediction: Tensor, target: Tensor) -> Tensor:
    """(B, ...) x2 -> (B,) mean squared error per sample, in fp32."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must match, got {tuple(prediction.shape)} vs {tuple(target.shape)}"
        )
    diff = (prediction.float() - target.float()) ** 2
    return diff.flatten(1).mean(dim=1)


def loss_by_mix(
    losses: Tensor, active: Tensor, motion: Tensor | None = None
) -> dict[str, tuple[Tensor, int]]:
    """Group per-sample losses (B,) by condition mix (active (B, 4) bool, motion (B,) bool or
    None) -> {mix: (mean, n)}."""
    flags = [False] * len(active) if motion is None else motion.bool().cpu().tolist()
    names = [mix_name(row, m) for row, m in zip(active.bool().cpu().numpy(), flags, strict=True)]
    out = {}
    for name in sorted(set(names)):
        rows = torch.tensor([n == name for n in names], device=losses.device)
        out[name] = (losses[rows].mean(), int(rows.sum()))
    return out
