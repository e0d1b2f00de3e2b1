"""3D rotary position embedding over (t, h, w), HunyuanVideo's layout.

Each head's channels are split into three groups (rope_axes, e.g. 16/56/56 of 128); group a
rotates its adjacent channel pairs (2i, 2i+1) by angle pos_a * theta^(-2i / dim_a). The dot
product of a rotated query at p and a rotated key at p' then depends only on p - p'.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor


def video_positions(
    frame_index: Tensor, height: int, width: int, device: torch.device | None = None
) -> Tensor:
    """(F*h*w, 3) float positions (t, h, w) of tokens laid out "(f h w)" for given frame indices."""
    t = frame_index.to(device=device, dtype=torch.float32)
    h = torch.arange(height, device=device, dtype=torch.float32)
    w = torch.arange(width, device=device, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(t, h, w, indexing="ij"), dim=-1)  # (F, h, w, 3)
    return rearrange(grid, "f h w a -> (f h w) a")


def rope_frequencies(
    positions: Tensor, axes: tuple[int, int, int], theta: float, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Complex rotations (N, sum(axes) / 2) for positions (N, 3); dtype float32 or float64."""
    angles = []
    for a, dim in enumerate(axes):
        inv = 1.0 / theta ** (torch.arange(0, dim, 2, device=positions.device, dtype=dtype) / dim)
        angles.append(positions[:, a, None].to(dtype) * inv)  # (N, dim/2)
    angle = torch.cat(angles, dim=1)  # (N, head_dim/2)
    return torch.polar(torch.ones_like(angle), angle)


def apply_rope(x: Tensor, freqs: Tensor) -> Tensor:
    """Rotate channel pairs of x (B, H, N, d) by freqs (N, d/2); returns x's dtype."""
    pairs = torch.view_as_complex(
        rearrange(x.to(freqs.real.dtype), "... (d two) -> ... d two", two=2)
    )
    return rearrange(torch.view_as_real(pairs * freqs), "... d two -> ... (d two)").to(x.dtype)
