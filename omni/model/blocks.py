"""Transformer blocks of the MMDiT: dual-stream (MMDiT) blocks, single-stream blocks, final layer.

Token order in the joint attention is [video, text] (HunyuanVideo's); video tokens are
[reference, motion frames, noisy frames]. RoPE rotates video tokens only: the joint frequency
table passed in has identity rotations for the text rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omni.model.embedders import AudioCrossAttention
from omni.model.layers import Mlp, attention, layer_norm, modulate, qk_norm, split_heads
from omni.model.presets import MMDiTConfig
from omni.model.rope import apply_rope


class AudioContext:
    """Audio tokens (B, F, R, D) for the noisy frames, a per-row gate (B, 1, 1) that is 0 for rows
    whose audio is inactive, and how many clean (reference + motion) tokens precede the noisy ones."""

    def __init__(self, tokens: Tensor, gate: Tensor, num_clean: int) -> None:
        self.tokens, self.gate, self.num_clean = tokens, gate, num_clean


def _add_audio(attn: AudioCrossAttention | None, x: Tensor, ctx: AudioContext | None) -> Tensor:
    """x (B, Nv, D) plus the audio cross-attention update on its noisy tokens."""
    if attn is None or ctx is None:
        return x
    n = ctx.num_clean
    update = attn(x[:, n:], ctx.tokens) * ctx.gate  # (B, Nv - n, D)
    return x + update if n == 0 else torch.cat([x[:, :n], x[:, n:] + update], dim=1)


def _audio_attention(cfg: MMDiTConfig) -> AudioCrossAttention | None:
    if cfg.audio_dim == 0:
        return None
    return AudioCrossAttention(
        cfg.hidden_size, cfg.num_heads, cfg.audio_attention, cfg.qk_norm, cfg.norm_eps
    )


class Stream(nn.Module):
    """One stream's weights in a dual-stream block (adaLN, QKV, QK-norm, output, MLP)."""

    def __init__(self, cfg: MMDiTConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.mod = nn.Linear(d, 6 * d)
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = qk_norm(cfg.head_dim, cfg.qk_norm, cfg.norm_eps)
        self.k_norm = qk_norm(cfg.head_dim, cfg.qk_norm, cfg.norm_eps)
        self.proj = nn.Linear(d, d)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))


class DualStreamBlock(nn.Module):
    """MMDiT block: separate weights for video and text, one joint attention over both."""

    def __init__(self, cfg: MMDiTConfig) -> None:
        super().__init__()
        self.heads, self.eps = cfg.num_heads, cfg.norm_eps
        self.video = Stream(cfg)
        self.text = Stream(cfg)
        self.audio = _audio_attention(cfg)

    def forward(
        self,
        x: Tensor,
        y: Tensor,
        c: Tensor,
        freqs: Tensor,
        key_mask: Tensor | None,
        audio: AudioContext | None,
    ) -> tuple[Tensor, Tensor]:
        """x (B, Nv, D) video, y (B, Nt, D) text, c (B, D) = SiLU(conditioning embedding)."""
        nv = x.shape[1]
        mv = self.video.mod(c).chunk(6, dim=-1)  # shift/scale/gate for attention, then MLP
        mt = self.text.mod(c).chunk(6, dim=-1)
        qv, kv, vv = split_heads(
            self.video.qkv(modulate(layer_norm(x, self.eps), mv[0], mv[1])), self.heads
        )
        qt, kt, vt = split_heads(
            self.text.qkv(modulate(layer_norm(y, self.eps), mt[0], mt[1])), self.heads
        )
        q = apply_rope(torch.cat([self.video.q_norm(qv), self.text.q_norm(qt)], dim=2), freqs)
        k = apply_rope(torch.cat([self.video.k_norm(kv), self.text.k_norm(kt)], dim=2), freqs)
        o = attention(q, k, torch.cat([vv, vt], dim=2), key_mask)  # (B, Nv + Nt, D)
        x = x + mv[2][:, None] * self.video.proj(o[:, :nv])  # (B, Nv, D)
        y = y + mt[2][:, None] * self.text.proj(o[:, nv:])  # (B, Nt, D)
        x = _add_audio(self.audio, x, audio)
        x = x + mv[5][:, None] * self.video.mlp(modulate(layer_norm(x, self.eps), mv[3], mv[4]))
        y = y + mt[5][:, None] * self.text.mlp(modulate(layer_norm(y, self.eps), mt[3], mt[4]))
        return x, y


class SingleStreamBlock(nn.Module):
    """HunyuanVideo single-stream block: one weight set over [video, text], attention and MLP
    computed in parallel from one fused input projection."""

    def __init__(self, cfg: MMDiTConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.heads, self.eps, self.mlp_hidden = cfg.num_heads, cfg.norm_eps, int(d * cfg.mlp_ratio)
        self.mod = nn.Linear(d, 3 * d)
        self.linear1 = nn.Linear(d, 3 * d + self.mlp_hidden)
        self.q_norm = qk_norm(cfg.head_dim, cfg.qk_norm, cfg.norm_eps)
        self.k_norm = qk_norm(cfg.head_dim, cfg.qk_norm, cfg.norm_eps)
        self.act = nn.GELU(approximate="tanh")
        self.linear2 = nn.Linear(d + self.mlp_hidden, d)
        self.audio = _audio_attention(cfg)

    def forward(
        self,
        x: Tensor,
        y: Tensor,
        c: Tensor,
        freqs: Tensor,
        key_mask: Tensor | None,
        audio: AudioContext | None,
    ) -> tuple[Tensor, Tensor]:
        nv, d = x.shape[1], x.shape[2]
        shift, scale, gate = self.mod(c).chunk(3, dim=-1)  # (B, D) each
        z = torch.cat([x, y], dim=1)  # (B, N, D)
        qkv, h = self.linear1(modulate(layer_norm(z, self.eps), shift, scale)).split(
            [3 * d, self.mlp_hidden], dim=-1
        )
        q, k, v = split_heads(qkv, self.heads)  # (B, H, N, d)
        q, k = apply_rope(self.q_norm(q), freqs), apply_rope(self.k_norm(k), freqs)
        o = attention(q, k, v, key_mask)  # (B, N, D)
        z = z + gate[:, None] * self.linear2(torch.cat([o, self.act(h)], dim=-1))
        return _add_audio(self.audio, z[:, :nv], audio), z[:, nv:]


class FinalLayer(nn.Module):
    """adaLN (scale, shift) then a linear map from tokens to patches."""

    def __init__(self, hidden: int, out_dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.mod = nn.Linear(hidden, 2 * hidden)
        self.linear = nn.Linear(hidden, out_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.mod(c).chunk(2, dim=-1)  # (B, D) each
        return self.linear(modulate(layer_norm(x, self.eps), shift, scale))  # (B, N, out_dim)
