"""Small building blocks shared by the MMDiT's embedders and blocks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def all_true(mask: Tensor) -> bool:
    """mask.all() as a Python bool; False on the meta device (shape-only runs take every path)."""
    return False if mask.is_meta else bool(mask.all())


def any_true(mask: Tensor) -> bool:
    """mask.any() as a Python bool; True on the meta device."""
    return True if mask.is_meta else bool(mask.any())


def timestep_embedding(t: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features (B, dim) = [cos(t w_i), sin(t w_i)], w_i = max_period^(-i / (dim/2))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t[:, None].float() * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x (B, N, D) * (1 + scale) + shift, with shift/scale (B, D)."""
    return torch.addcmul(shift[:, None], x, 1 + scale[:, None])


def layer_norm(x: Tensor, eps: float) -> Tensor:
    """LayerNorm over the last axis without learned affine (the adaLN supplies it)."""
    return F.layer_norm(x, x.shape[-1:], eps=eps)


class Mlp(nn.Module):
    """fc1 -> activation -> fc2."""

    def __init__(
        self, dim: int, hidden: int, out: int | None = None, act: str = "gelu_tanh"
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh") if act == "gelu_tanh" else nn.SiLU()
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TimestepEmbedder(nn.Module):
    """Scalar per row (B,) -> (B, D): sinusoidal features -> Linear -> SiLU -> Linear."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = Mlp(freq_dim, hidden, hidden, act="silu")

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim).to(self.mlp.fc1.weight.dtype))


def qk_norm(head_dim: int, kind: str, eps: float) -> nn.Module:
    """Per-head RMSNorm of queries/keys (learned scale), or identity."""
    return nn.RMSNorm(head_dim, eps=eps) if kind == "rms" else nn.Identity()


def split_heads(qkv: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """(B, N, 3 * H * d) -> three (B, H, N, d) views."""
    q, k, v = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=heads)
    return q, k, v


sdpa = F.scaled_dot_product_attention  # swapped by omni.model.memory for shape-only estimates


def attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None) -> Tensor:
    """SDPA over (B, H, N, d) with an optional (B, Nk) bool key mask -> (B, N, H * d)."""
    mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, Nk)
    out = sdpa(q, k, v, attn_mask=mask)  # (B, H, N, d)
    return rearrange(out, "b h n d -> b n (h d)")
