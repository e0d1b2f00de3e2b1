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


def per_sample_mse(prediction: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """(B, ...) x2 -> (B,) mean squared error per sample, in fp32; `weight` (broadcastable to
    the prediction) scales each element's squared error."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must match, got {tuple(prediction.shape)} vs {tuple(target.shape)}"
        )
    diff = (prediction.float() - target.float()) ** 2
    if weight is not None:
        diff = diff * weight.float()
    return diff.flatten(1).mean(dim=1)


def motion_weights(x0: Tensor, strength: float) -> Tensor | None:
    """Per-cell loss weights that favour what moves in the window, or None when off.

    x0 (B, C, F, h, w) clean latents -> (B, 1, 1, h, w): 1 + strength * m, where m is each latent
    cell's standard deviation over the window's frames (mean over channels) divided by the
    sample's largest, then scaled so every sample's weights average 1 (the loss keeps its
    scale; a still window gets weight 1 everywhere). The parts that move are the ones the
    driving conditions explain (a talking mouth is a few percent of the frame, and with a plain
    MSE its share of the loss is too small for the audio path to learn from); what stays still
    is explained by the reference and is still learnt, with less weight.
    """
    if strength <= 0 or x0.shape[2] < 2:
        return None
    spread = x0.float().std(dim=2).mean(dim=1)  # (B, h, w)
    peak = spread.flatten(1).amax(dim=1).clamp_min(1e-6)
    weight = 1.0 + strength * spread / peak[:, None, None]
    weight = weight / weight.flatten(1).mean(dim=1)[:, None, None]
    return weight[:, None, None]


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
