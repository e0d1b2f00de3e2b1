"""Size presets of the MMDiT: one typed config, one registry.

`MMDiTConfig` describes the whole network (streams, blocks, text-side modules, condition paths,
latent geometry). Every field is plain data, so the config round-trips through `config.json`
(`to_dict` / `from_dict`) and LightningCLI can read it. `get_preset(name)` returns a fresh copy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal


@dataclass
class MMDiTConfig:
    """Architecture of `OmniMMDiT`. Hidden size is `num_heads * head_dim`."""

    in_channels: int = 16
    """Latent channels C of the video VAE (input and output of the network)."""
    num_heads: int = 6
    """Attention heads in every block."""
    head_dim: int = 64
    """Channels per head; must be even (RoPE rotates channel pairs)."""
    num_dual_blocks: int = 12
    """Dual-stream (MMDiT) blocks: text and video streams with separate weights, joint attention."""
    num_single_blocks: int = 0
    """Single-stream blocks after the dual ones (HunyuanVideo): one weight set over [video, text]."""
    mlp_ratio: float = 4.0
    """MLP hidden size = mlp_ratio * hidden size."""
    patch_size: tuple[int, int, int] = (1, 2, 2)
    """Patch size (t, h, w) of the patch embedding; omni uses 1x2x2."""
    qk_norm: Literal["rms", "none"] = "rms"
    """Normalisation of queries and keys per head (RMSNorm with a learned scale, eps=norm_eps)."""
    norm_eps: float = 1e-6
    """Epsilon of every LayerNorm / RMSNorm in the network."""
    rope_axes: tuple[int, int, int] = (16, 24, 24)
    """Channels per head rotated by the (t, h, w) positions; must sum to head_dim."""
    rope_theta: float = 256.0
    """RoPE base period."""
    timestep_scale: float = 1000.0
    """t in [0, 1] is multiplied by this before the sinusoidal embedding (HunyuanVideo uses 1000)."""
    text_dim: int = 512
    """Channels of the text encoder's token features (B, L, text_dim)."""
    text_refiner_layers: int = 0
    """HunyuanVideo's token refiner depth; 0 = a single linear projection of the text tokens."""
    pooled_text_dim: int = 0
    """Channels of a pooled text vector added to the timestep embedding (HunyuanVideo: CLIP, 768); 0 = none."""
    guidance_embed: bool = False
    """Embed a distilled-guidance scale like the timestep (HunyuanVideo's guidance embedder)."""
    audio_dim: int = 160
    """Channels of the per-video-frame audio features; 0 = no audio path."""
    audio_window: int = 2
    """Audio frames concatenated on each side of a frame before the audio MLP."""
    audio_context: int = 2
    """Audio tokens of this many pixel frames on each side of a latent frame's own frames that its
    video tokens also attend to (learned offsets), plus a learned null token; 0 = only the frame's
    own tokens (with a temporal-factor-1 VAE that is one key: every token gets the same update)."""
    audio_attention: Literal["frame", "full"] = "frame"
    """'frame': video tokens of a latent frame attend to that frame's audio tokens (block-diagonal);
    'full': every video token attends to every audio token."""
    pose_channels: int = 0
    """Keypoint heatmap channels K of the pose input (B, K, T, H, W); 0 = no pose path."""
    pose_hidden: int = 64
    """Width of the pose guider's convolutions."""
    pose_window: int = 1
    """Latent frames of pose features concatenated on each side of a frame."""
    latent_temporal_factor: int = 4
    """Pixel frames per latent frame after the first (a causal VAE maps 1+4k frames to 1+k)."""
    latent_spatial_factor: int = 8
    """Pixels per latent cell along height and width."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass (less memory, ~1/3 more compute)."""

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.head_dim

    def __post_init__(self) -> None:
        self.patch_size = tuple(self.patch_size)
        self.rope_axes = tuple(self.rope_axes)
        if self.head_dim % 2 or sum(self.rope_axes) != self.head_dim:
            raise ValueError(
                f"rope_axes must sum to head_dim (even): expected sum {self.head_dim}, "
                f"got rope_axes={self.rope_axes}. Adjust rope_axes or head_dim."
            )
        if any(a % 2 for a in self.rope_axes):
            raise ValueError(f"each rope axis must be even, got rope_axes={self.rope_axes}")
        if len(self.patch_size) != 3 or self.patch_size[0] != 1:
            raise ValueError(f"patch_size must be (1, p, p), got {self.patch_size}")
        if self.qk_norm not in ("rms", "none"):
            raise ValueError(f"qk_norm must be 'rms' or 'none', got {self.qk_norm!r}")
        if self.audio_attention not in ("frame", "full"):
            raise ValueError(
                f"audio_attention must be 'frame' or 'full', got {self.audio_attention!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MMDiTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown MMDiTConfig keys {unknown}; expected a subset of {sorted(known)}"
            )
        if "audio_dim" in data and "audio_context" not in data:
            data = {**data, "audio_context": 0}  # written before the option: no context tokens
        return cls(**data)

    def replace(self, **changes: Any) -> MMDiTConfig:
        return dataclasses.replace(self, **changes)


def _hunyuan() -> MMDiTConfig:
    """HunyuanVideo's transformer (13B): 20 dual + 40 single blocks, token refiner, CLIP pooled
    text, guidance embedding, LLaMA text features (4096), with omni's condition paths attached."""
    return MMDiTConfig(
        in_channels=16,
        num_heads=24,
        head_dim=128,
        num_dual_blocks=20,
        num_single_blocks=40,
        rope_axes=(16, 56, 56),
        text_dim=4096,
        text_refiner_layers=2,
        pooled_text_dim=768,
        guidance_embed=True,
    )


PRESETS: dict[str, MMDiTConfig] = {
    # CPU tests in seconds: exercises both block kinds and every condition path.
    "tiny": MMDiTConfig(
        num_heads=2,
        head_dim=32,
        num_dual_blocks=2,
        num_single_blocks=1,
        rope_axes=(8, 12, 12),
        text_dim=64,
        audio_dim=160,
        pose_channels=17,
        pose_hidden=16,
    ),
    "S": MMDiTConfig(num_heads=6, head_dim=64, num_dual_blocks=12, pose_channels=17),
    "B": MMDiTConfig(num_heads=12, head_dim=64, num_dual_blocks=12, pose_channels=17),
    "L": MMDiTConfig(num_heads=16, head_dim=64, num_dual_blocks=24, pose_channels=17),
    # A 5-10B-class MMDiT as in the paper (7.6B with its audio and pose paths).
    "paper": MMDiTConfig(
        num_heads=24,
        head_dim=128,
        num_dual_blocks=20,
        rope_axes=(16, 56, 56),
        text_dim=4096,
        pose_channels=17,
        pose_hidden=128,
    ),
    "hunyuan": _hunyuan().replace(pose_channels=17, pose_hidden=128),
}


def get_preset(name: str, **overrides: Any) -> MMDiTConfig:
    """A fresh copy of preset `name`, with any field overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: expected one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)


__all__ = ["PRESETS", "MMDiTConfig", "get_preset"]
