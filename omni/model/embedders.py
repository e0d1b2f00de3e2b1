"""Condition embedders: text (with HunyuanVideo's token refiner), audio, pose.

Each embedder owns its condition's null path, taken by rows whose `active` flag is False:
text -> one learned null token, audio/pose -> a zero contribution. The audio and pose outputs are
zero-initialised (`OmniMMDiT.initialize_weights`), so attaching them to a trained model changes
nothing until they are trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from omni.model.layers import (
    Mlp,
    TimestepEmbedder,
    all_true,
    attention,
    qk_norm,
    split_heads,
)

REFINER_MLP_RATIO = 4.0  # HunyuanVideo's token refiner uses 4 whatever the main blocks use


def neighbour_concat(x: Tensor, window: int, dim: int) -> Tensor:
    """Concatenate each step along `dim` with its `window` neighbours on each side (edge
    replicated) along the channel axis: (B, T, D) dim=1 -> (B, T, (2w+1) D);
    (B, C, T, ...) dim=2 -> (B, (2w+1) C, T, ...)."""
    if window == 0:
        return x
    n = x.shape[dim]
    offsets = torch.arange(-window, window + 1, device=x.device)
    idx = (torch.arange(n, device=x.device)[:, None] + offsets).clamp(0, n - 1)  # (T, 2w+1)
    shifted = [x.index_select(dim, idx[:, j]) for j in range(idx.shape[1])]
    return torch.cat(shifted, dim=-1 if dim == 1 else 1)


class RefinerBlock(nn.Module):
    """Token-refiner block: self-attention + SiLU MLP over text tokens, gated by the timestep."""

    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = Mlp(hidden, int(hidden * REFINER_MLP_RATIO), act="silu")
        self.gate = nn.Linear(hidden, 2 * hidden)

    def forward(self, y: Tensor, c: Tensor, key_mask: Tensor | None) -> Tensor:
        gate_attn, gate_mlp = self.gate(c).chunk(2, dim=-1)  # (B, D) each
        q, k, v = split_heads(self.qkv(self.norm1(y)), self.heads)  # (B, H, L, d)
        y = y + gate_attn[:, None] * self.proj(attention(q, k, v, key_mask))  # (B, L, D)
        return y + gate_mlp[:, None] * self.mlp(self.norm2(y))


class TokenRefiner(nn.Module):
    """HunyuanVideo's text-side refiner: text tokens (B, L, Dt) -> (B, L, D), conditioned on the
    timestep and the masked mean of the tokens."""

    def __init__(self, text_dim: int, hidden: int, heads: int, layers: int, eps: float) -> None:
        super().__init__()
        self.time = TimestepEmbedder(hidden)
        self.pooled = Mlp(text_dim, hidden, hidden, act="silu")
        self.proj_in = nn.Linear(text_dim, hidden)
        self.blocks = nn.ModuleList(RefinerBlock(hidden, heads, eps) for _ in range(layers))

    def forward(self, text: Tensor, mask: Tensor, t_scaled: Tensor) -> Tensor:
        m = mask[..., None].to(text.dtype)  # (B, L, 1)
        pooled = (text * m).sum(1) / m.sum(1).clamp(min=1)  # (B, Dt)
        c = F.silu(self.time(t_scaled) + self.pooled(pooled))  # (B, D)
        key_mask = mask.clone()
        key_mask[:, 0] = True  # a row never attends to nothing
        key_mask = None if all_true(key_mask) else key_mask
        y = self.proj_in(text)  # (B, L, D)
        for block in self.blocks:
            y = block(y, c, key_mask)
        return y


class TextEmbedder(nn.Module):
    """Text features -> text-stream tokens. Inactive rows see one learned null token."""

    def __init__(self, text_dim: int, hidden: int, heads: int, refiner_layers: int, eps: float):
        super().__init__()
        self.null = nn.Parameter(torch.zeros(text_dim))
        if refiner_layers > 0:
            self.refiner = TokenRefiner(text_dim, hidden, heads, refiner_layers, eps)
        else:
            self.proj = nn.Linear(text_dim, hidden)

    def null_text(self, batch: int, length: int) -> tuple[Tensor, Tensor]:
        """(B, L, Dt) null features (token 0 = the learned null) and their (B, L) mask."""
        text = self.null.new_zeros(batch, length, self.null.shape[0])
        text[:, 0] = self.null
        mask = torch.zeros(batch, length, dtype=torch.bool, device=self.null.device)
        mask[:, 0] = True
        return text, mask

    def forward(
        self, text: Tensor | None, mask: Tensor | None, active: Tensor, t_scaled: Tensor
    ) -> tuple[Tensor, Tensor]:
        """-> text tokens (B, L, D) and key mask (B, L) after the null path."""
        b = active.shape[0]
        if text is None:
            text, mask = self.null_text(b, 1)
        else:
            mask = (
                torch.ones(text.shape[:2], dtype=torch.bool, device=text.device)
                if mask is None
                else mask
            )
            if not all_true(active):
                null_text, null_mask = self.null_text(b, text.shape[1])
                text = torch.where(active[:, None, None], text, null_text)
                mask = torch.where(active[:, None], mask, null_mask)
        if hasattr(self, "refiner"):
            return self.refiner(text, mask, t_scaled), mask
        return self.proj(text), mask


class AudioEmbedder(nn.Module):
    """Audio features per pixel frame (B, T, Da) -> audio tokens per latent frame (B, F, R, D).

    Each frame's features are concatenated with `window` neighbours on each side and projected by
    an MLP to one token per pixel frame; latent frame 0 (one pixel frame) repeats its token r
    times, frame f >= 1 gets the r pixel frames it encodes (R = r).

    With `context` > 0 a latent frame's tokens are also the `context` pixel frames on each side
    of its own (edge replicated), each plus a learned offset embedding saying where it lies,
    and a learned null token a video token can attend to instead of the audio (R = r + 2 context
    + 1). Without them a temporal-factor-1 VAE gives one token per frame: the frame's
    cross-attention is a softmax over one key, so every video token of the frame gets the same
    update whatever it is; with several keys and a null, the mouth's tokens can take the audio
    and the background's can take nothing.
    """

    def __init__(
        self, audio_dim: int, window: int, hidden: int, temporal_factor: int, context: int = 0
    ) -> None:
        super().__init__()
        self.window, self.context = window, context
        self.r = temporal_factor
        self.mlp = Mlp(audio_dim * (2 * window + 1), hidden, hidden)
        if context:
            self.offset = nn.Parameter(torch.randn(temporal_factor + 2 * context, hidden) * 0.02)
            self.null = nn.Parameter(torch.randn(hidden) * 0.02)

    @property
    def tokens_per_frame(self) -> int:
        return self.r + (2 * self.context + 1 if self.context else 0)

    def forward(self, audio: Tensor) -> Tensor:
        x = self.mlp(neighbour_concat(audio, self.window, dim=1))  # (B, T, D)
        x = torch.cat([x[:, :1].expand(-1, self.r - 1, -1), x], dim=1)  # (B, r F, D)
        if not self.context:
            return rearrange(x, "b (f r) d -> b f r d", r=self.r)
        c = self.context
        x = torch.cat([x[:, :1].expand(-1, c, -1), x, x[:, -1:].expand(-1, c, -1)], dim=1)
        windows = x.unfold(1, self.r + 2 * c, self.r).transpose(2, 3)  # (B, F, r + 2c, D)
        null = self.null.expand(*windows.shape[:2], 1, -1)
        return torch.cat([windows + self.offset, null], dim=2)  # (B, F, r + 2c + 1, D)


class AudioCrossAttention(nn.Module):
    """Video tokens attend to audio tokens: per latent frame ('frame') or all of them ('full')."""

    def __init__(self, hidden: int, heads: int, mode: str, norm: str, eps: float) -> None:
        super().__init__()
        self.heads, self.mode = heads, mode
        self.norm = nn.LayerNorm(hidden, eps=eps)
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(hidden, 2 * hidden)
        self.q_norm = qk_norm(hidden // heads, norm, eps)
        self.k_norm = qk_norm(hidden // heads, norm, eps)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: Tensor, audio: Tensor) -> Tensor:
        """x (B, F*S, D) noisy video tokens, audio (B, F, R, D) -> (B, F*S, D) update."""
        b, f = audio.shape[:2]
        q = self.q(self.norm(x))  # (B, F S, D)
        kv = self.kv(audio)  # (B, F, R, 2D)
        if self.mode == "frame":  # block-diagonal: each frame is its own attention problem
            q = rearrange(q, "b (f s) (h d) -> (b f) h s d", f=f, h=self.heads)
            k, v = rearrange(kv, "b f r (two h d) -> two (b f) h r d", two=2, h=self.heads)
        else:
            q = rearrange(q, "b n (h d) -> b h n d", h=self.heads)
            k, v = rearrange(kv, "b f r (two h d) -> two b h (f r) d", two=2, h=self.heads)
        o = attention(self.q_norm(q), self.k_norm(k), v, None)  # (B F, S, D) or (B, N, D)
        return self.out(o.reshape(b, -1, o.shape[-1]))  # (B, F S, D)


class PoseGuider(nn.Module):
    """Keypoint heatmaps (B, K, T_pix, H, W) -> latent-grid offsets (B, C, F, h, w).

    Temporal groups of r pixel frames are folded into channels (frame 0 padded like a causal VAE),
    stride-2 convolutions reach the latent grid, and each latent frame's features are concatenated
    with `window` neighbours before the zero-initialised output convolution.
    """

    def __init__(
        self,
        keypoints: int,
        hidden: int,
        out_channels: int,
        temporal_factor: int,
        spatial_factor: int,
        window: int,
    ) -> None:
        super().__init__()
        if spatial_factor < 1 or spatial_factor & (spatial_factor - 1):
            raise ValueError(f"pose guider needs a power-of-2 spatial factor, got {spatial_factor}")
        self.r, self.window = temporal_factor, window
        layers: list[nn.Module] = []
        c_in = keypoints * temporal_factor
        for _ in range(int(math.log2(spatial_factor))):
            layers += [nn.Conv3d(c_in, hidden, (1, 3, 3), (1, 2, 2), (0, 1, 1)), nn.SiLU()]
            c_in = hidden
        layers += [nn.Conv3d(c_in, hidden, (3, 3, 3), padding=1), nn.SiLU()]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv3d(hidden * (2 * window + 1), out_channels, 1)

    def forward(self, pose: Tensor) -> Tensor:
        x = torch.cat([pose[:, :, :1].expand(-1, -1, self.r - 1, -1, -1), pose], dim=2)
        x = rearrange(x, "b k (f r) h w -> b (k r) f h w", r=self.r)  # (B, K r, F, H, W)
        x = self.body(x)  # (B, hidden, F, h, w)
        return self.out(neighbour_concat(x, self.window, dim=2))  # (B, C, F, h, w)
