"""Shared tiny configs and inputs for the model tests."""

from __future__ import annotations

import torch

from omni.model.conditions import Conditions
from omni.model.presets import MMDiTConfig, get_preset


def tiny_config(**overrides) -> MMDiTConfig:
    """The `tiny` preset with a 4-channel latent and a x4 spatial latent grid (small pose maps)."""
    base = dict(
        in_channels=4, latent_spatial_factor=4, audio_dim=12, pose_channels=3, pose_hidden=8
    )
    return get_preset("tiny", **{**base, **overrides})


def make_inputs(
    cfg: MMDiTConfig,
    b: int = 2,
    f: int = 3,
    h: int = 4,
    w: int = 4,
    seed: int = 0,
    motion: int = 2,
    dtype=torch.float32,
):
    """Latent x, t and full Conditions (text with padding, ref, motion, audio, pose)."""
    g = torch.Generator().manual_seed(seed)
    r, s = cfg.latent_temporal_factor, cfg.latent_spatial_factor
    t_pix = 1 + r * (f - 1)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    x = rand(b, cfg.in_channels, f, h, w)
    t = torch.rand(b, generator=g, dtype=dtype)
    mask = torch.ones(b, 5, dtype=torch.bool)
    mask[0, 3:] = False
    cond = Conditions(
        text=rand(b, 5, cfg.text_dim),
        text_mask=mask,
        ref=rand(b, cfg.in_channels, 1, h, w),
        motion=rand(b, cfg.in_channels, motion, h, w) if motion else None,
        audio=rand(b, t_pix, cfg.audio_dim) if cfg.audio_dim else None,
        pose=torch.rand(b, cfg.pose_channels, t_pix, h * s, w * s, generator=g, dtype=dtype)
        if cfg.pose_channels
        else None,
    )
    return x, t, cond


def randomize(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Stand-in for training: every parameter random (so zero-init paths would show)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model
