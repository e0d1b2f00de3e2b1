"""HunyuanVideo (diffusers `HunyuanVideoTransformer3DModel`) -> OmniMMDiT: config and weights.

The mapping is a table of (omni key, source keys): several source tensors concatenated along
dim 0 make one fused omni tensor (to_q/to_k/to_v -> qkv). Every source tensor must be used
exactly once and every omni tensor is either loaded or listed as new; anything else is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from omni.model.presets import MMDiTConfig


def config_from_hunyuan(src: dict[str, Any], **omni_fields: Any) -> MMDiTConfig:
    """MMDiTConfig equal to a HunyuanVideoTransformer3DModel config.json (plus omni's own fields,
    e.g. audio_dim / pose_channels, which add zero-initialised condition paths)."""
    if src.get("image_condition_type") is not None:
        raise ValueError(
            "expected a text-to-video HunyuanVideo transformer (image_condition_type null), "
            f"got image_condition_type={src['image_condition_type']!r}"
        )
    if src.get("out_channels", src["in_channels"]) not in (None, src["in_channels"]):
        raise ValueError(
            f"expected out_channels == in_channels, got {src['out_channels']} != {src['in_channels']}"
        )
    if src.get("num_refiner_layers", 2) < 1:
        raise ValueError("expected num_refiner_layers >= 1 (the token refiner), got 0")
    if src.get("qk_norm", "rms_norm") != "rms_norm":
        raise ValueError(f"expected qk_norm 'rms_norm', got {src['qk_norm']!r}")
    return MMDiTConfig(
        in_channels=src["in_channels"],
        num_heads=src["num_attention_heads"],
        head_dim=src["attention_head_dim"],
        num_dual_blocks=src["num_layers"],
        num_single_blocks=src["num_single_layers"],
        mlp_ratio=src.get("mlp_ratio", 4.0),
        patch_size=(src.get("patch_size_t", 1), src["patch_size"], src["patch_size"]),
        qk_norm="rms",
        norm_eps=1e-6,
        rope_axes=tuple(src["rope_axes_dim"]),
        rope_theta=src.get("rope_theta", 256.0),
        timestep_scale=1000.0,
        text_dim=src["text_embed_dim"],
        text_refiner_layers=src["num_refiner_layers"],
        pooled_text_dim=src["pooled_projection_dim"],
        guidance_embed=src.get("guidance_embeds", True),
        **omni_fields,
    )


def key_map(cfg: MMDiTConfig) -> dict[str, list[str]]:
    """omni key -> source keys (concatenated along dim 0) for a HunyuanVideo transformer."""
    m: dict[str, list[str]] = {}

    def lin(dst: str, *srcs: str) -> None:
        for p in ("weight", "bias"):
            m[f"{dst}.{p}"] = [f"{s}.{p}" for s in srcs]

    def mlp2(dst: str, src: str, a: str = "linear_1", b: str = "linear_2") -> None:
        lin(f"{dst}.fc1", f"{src}.{a}")
        lin(f"{dst}.fc2", f"{src}.{b}")

    lin("x_embed", "x_embedder.proj")
    mlp2("time_embed.mlp", "time_text_embed.timestep_embedder")
    mlp2("pooled_embed", "time_text_embed.text_embedder")
    if cfg.guidance_embed:
        mlp2("guidance_embed.mlp", "time_text_embed.guidance_embedder")
    ce, re = "context_embedder", "text_embed.refiner"
    mlp2(f"{re}.time.mlp", f"{ce}.time_text_embed.timestep_embedder")
    mlp2(f"{re}.pooled", f"{ce}.time_text_embed.text_embedder")
    lin(f"{re}.proj_in", f"{ce}.proj_in")
    for i in range(cfg.text_refiner_layers):
        s, d = f"{ce}.token_refiner.refiner_blocks.{i}", f"{re}.blocks.{i}"
        lin(f"{d}.norm1", f"{s}.norm1")
        lin(f"{d}.qkv", f"{s}.attn.to_q", f"{s}.attn.to_k", f"{s}.attn.to_v")
        lin(f"{d}.proj", f"{s}.attn.to_out.0")
        lin(f"{d}.norm2", f"{s}.norm2")
        mlp2(f"{d}.mlp", f"{s}.ff", "net.0.proj", "net.2")
        lin(f"{d}.gate", f"{s}.norm_out.linear")
    for i in range(cfg.num_dual_blocks):
        s, d = f"transformer_blocks.{i}", f"blocks.{i}"
        for stream, mod, q, k, v, qn, kn, out, ff in (
            ("video", "norm1", "to_q", "to_k", "to_v", "norm_q", "norm_k", "to_out.0", "ff"),
            ("text", "norm1_context", "add_q_proj", "add_k_proj", "add_v_proj",
             "norm_added_q", "norm_added_k", "to_add_out", "ff_context"),
        ):  # fmt: skip
            lin(f"{d}.{stream}.mod", f"{s}.{mod}.linear")
            lin(f"{d}.{stream}.qkv", f"{s}.attn.{q}", f"{s}.attn.{k}", f"{s}.attn.{v}")
            m[f"{d}.{stream}.q_norm.weight"] = [f"{s}.attn.{qn}.weight"]
            m[f"{d}.{stream}.k_norm.weight"] = [f"{s}.attn.{kn}.weight"]
            lin(f"{d}.{stream}.proj", f"{s}.attn.{out}")
            mlp2(f"{d}.{stream}.mlp", f"{s}.{ff}", "net.0.proj", "net.2")
    for i in range(cfg.num_single_blocks):
        s, d = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        lin(f"{d}.mod", f"{s}.norm.linear")
        lin(f"{d}.linear1", f"{s}.attn.to_q", f"{s}.attn.to_k", f"{s}.attn.to_v", f"{s}.proj_mlp")
        m[f"{d}.q_norm.weight"] = [f"{s}.attn.norm_q.weight"]
        m[f"{d}.k_norm.weight"] = [f"{s}.attn.norm_k.weight"]
        lin(f"{d}.linear2", f"{s}.proj_out")
    lin("final.mod", "norm_out.linear")
    lin("final.linear", "proj_out")
    return m


@dataclass
class ImportReport:
    """Which omni tensors came from which source tensors, and which are new."""

    loaded: dict[str, list[str]] = field(default_factory=dict)
    """omni key -> source keys it was built from."""
    new: list[str] = field(default_factory=list)
    """omni keys not in the source (condition paths, null embeddings): kept at their init."""

    def to_dict(self) -> dict[str, Any]:
        used = sum(len(v) for v in self.loaded.values())
        return {"source_tensors_used": used, "loaded": self.loaded, "new": self.new}


def convert_state_dict(
    src: dict[str, Tensor], target: dict[str, Tensor], cfg: MMDiTConfig
) -> tuple[dict[str, Tensor], ImportReport]:
    """Source state dict -> omni tensors for the keys of `target` (an OmniMMDiT state dict)."""
    mapping = key_map(cfg)
    wanted = [s for srcs in mapping.values() for s in srcs]
    missing = sorted(set(wanted) - set(src))
    unknown = sorted(set(src) - set(wanted))
    if missing or unknown:
        raise ValueError(
            "source checkpoint does not match a HunyuanVideo transformer of this config: "
            f"missing {missing[:8]}{'...' if len(missing) > 8 else ''} ({len(missing)}), "
            f"unknown {unknown[:8]}{'...' if len(unknown) > 8 else ''} ({len(unknown)})"
        )
    absent = sorted(set(mapping) - set(target))
    if absent:
        raise ValueError(f"omni model lacks mapped keys {absent[:8]}: config mismatch")
    out: dict[str, Tensor] = {}
    for dst, srcs in mapping.items():
        value = torch.cat([src[s] for s in srcs], dim=0) if len(srcs) > 1 else src[srcs[0]]
        value = value.reshape(target[dst].shape) if dst == "x_embed.weight" else value
        if value.shape != target[dst].shape:
            raise ValueError(
                f"{dst}: expected shape {tuple(target[dst].shape)} from {srcs}, got {tuple(value.shape)}"
            )
        out[dst] = value
    report = ImportReport(loaded=mapping, new=sorted(set(target) - set(mapping)))
    return out, report
