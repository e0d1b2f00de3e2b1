"""Memory planning from the MMDiT built on the meta device (nothing is allocated).

`activation_bytes` runs a shape-only forward on the meta device and adds up the tensors autograd
saves for the backward pass (the weights, which linear layers save too, are not activations and
are left out). Attention is replaced by a flash-attention stand-in that saves what
flash kernels save (q, k, v, output, log-sum-exp) instead of the (N x N) probabilities the
meta decomposition of SDPA would keep. `fsdp_plan` combines it with the parameter count into a
per-GPU budget under fully sharded data parallel training. `python -m omni.model.memory` prints
the tables of docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from unittest import mock

import torch
from torch import Tensor

from omni.model import layers
from omni.model.conditions import Conditions
from omni.model.mmdit import OmniMMDiT
from omni.model.presets import MMDiTConfig, get_preset

GIB = 2**30


class _FlashLike(torch.autograd.Function):
    """Shape-only attention that saves what a flash kernel saves."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        out = q.new_empty(*q.shape[:-1], v.shape[-1])
        ctx.save_for_backward(q, k, v, out, q.new_empty(q.shape[:-1]))  # + log-sum-exp (B, H, N)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v, _, _ = ctx.saved_tensors
        return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _flash_like(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None) -> Tensor:
    return _FlashLike.apply(q, k, v)


def parameter_count(cfg: MMDiTConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in OmniMMDiT(cfg).parameters())


def activation_bytes(
    cfg: MMDiTConfig, frames: int, height: int, width: int, text_len: int, batch: int = 1
) -> int:
    """Bytes saved for backward by one forward in fp32 (halve for bf16 activations) of a latent
    (batch, C, frames, height, width) with a reference frame, audio and pose, and text_len tokens."""
    r, s = cfg.latent_temporal_factor, cfg.latent_spatial_factor
    t_pix = 1 + r * (frames - 1)
    with torch.device("meta"):
        model = OmniMMDiT(cfg)
        x = torch.empty(batch, cfg.in_channels, frames, height, width)
        cond = Conditions(
            text=torch.empty(batch, text_len, cfg.text_dim),
            text_pooled=torch.empty(batch, cfg.pooled_text_dim) if cfg.pooled_text_dim else None,
            guidance=torch.empty(batch) if cfg.guidance_embed else None,
            ref=torch.empty(batch, cfg.in_channels, 1, height, width),
            audio=torch.empty(batch, t_pix, cfg.audio_dim) if cfg.audio_dim else None,
            pose=torch.empty(batch, cfg.pose_channels, t_pix, height * s, width * s)
            if cfg.pose_channels
            else None,
        )
        t = torch.empty(batch)
    saved: dict[int, int] = {}  # storage (by its C++ address) -> bytes; views count once
    weights = {p.untyped_storage()._cdata for p in model.parameters()}  # not activations

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage._cdata not in weights:
            saved[storage._cdata] = storage.nbytes()
        return tensor

    with (
        mock.patch.object(layers, "sdpa", _flash_like),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        out = model(x, t, cond)  # the graph (and so every saved storage) stays alive until return
    del out
    return sum(saved.values())


@dataclass
class FSDPPlan:
    """Per-GPU memory (bytes) of full-shard FSDP training with bf16 compute and fp32 state."""

    gpus: int
    params: int
    sharded_state: int
    """fp32 master weights + fp32 grads + AdamW m, v + fp32 EMA = 20 B/param, divided by gpus."""
    gathered_blocks: int
    """bf16 weights of the two largest blocks (current + prefetched) and bf16 grads of one."""
    activations: int
    """Saved activations of one sample (bf16), not sharded."""

    @property
    def total(self) -> int:
        return self.sharded_state + self.gathered_blocks + self.activations


def fsdp_plan(cfg: MMDiTConfig, gpus: int, activations_fp32: int) -> FSDPPlan:
    with torch.device("meta"):
        model = OmniMMDiT(cfg)
    params = sum(p.numel() for p in model.parameters())
    blocks = [*model.blocks, *model.single_blocks]
    largest = max(sum(p.numel() for p in b.parameters()) for b in blocks)
    return FSDPPlan(
        gpus=gpus,
        params=params,
        sharded_state=20 * params // gpus,
        gathered_blocks=3 * 2 * largest,
        activations=activations_fp32 // 2,
    )


def per_token_bytes(cfg: MMDiTConfig) -> float:
    """Activation bytes per token of the transformer (fp32), from two sequence lengths (the
    slope removes per-sample constants); pose is off (its guider works per pixel, see
    `pose_guider_bytes`)."""
    cfg = cfg.replace(pose_channels=0)
    small, large = activation_bytes(cfg, 4, 16, 16, 32), activation_bytes(cfg, 4, 32, 32, 32)
    return (large - small) / (5 * (16 * 16 - 8 * 8))


def pose_guider_bytes(cfg: MMDiTConfig, frames: int, height: int, width: int) -> int:
    """Activation bytes (fp32) added by the pose guider for one sample of that latent size."""
    return activation_bytes(cfg, frames, height, width, 8) - activation_bytes(
        cfg.replace(pose_channels=0), frames, height, width, 8
    )


def main() -> None:
    """Print the markdown tables of docs/model.md."""
    print("| preset | params | activations per token, fp32, checkpointing off | on |")
    print("|---|---|---|---|")
    for name in ("tiny", "S", "B", "L", "paper", "hunyuan"):
        cfg = get_preset(name)
        off, on = (per_token_bytes(cfg.replace(gradient_checkpointing=c)) for c in (False, True))
        print(
            f"| {name} | {parameter_count(cfg) / 1e9:.3f} B | {off / 2**10:.0f} KiB | {on / 2**10:.1f} KiB |"
        )
    print()
    # 33 frames (1 + 4 * 8 -> 9 latent frames) + a reference at 480x832 -> 60x104 latent, 256 text tokens
    frames, h, w, text = 9, 60, 104, 256
    tokens = (frames + 1) * (h // 2) * (w // 2)
    print(
        f"FSDP full shard, bf16 compute, batch 1 per GPU, {tokens} video + {text} text tokens (with pose)"
    )
    print(
        "| preset | GPUs | sharded params+grads+AdamW+EMA | gathered blocks | activations (ckpt off / on) | total (ckpt on) |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("paper", "hunyuan"):
        cfg = get_preset(name)
        act = {
            c: activation_bytes(cfg.replace(gradient_checkpointing=c), frames, h, w, text)
            for c in (False, True)
        }
        for gpus in (1, 8, 64):
            off, on = fsdp_plan(cfg, gpus, act[False]), fsdp_plan(cfg, gpus, act[True])
            print(
                f"| {name} | {gpus} | {on.sharded_state / GIB:.1f} GiB | {on.gathered_blocks / GIB:.2f} GiB | "
                f"{off.activations / GIB:.1f} / {on.activations / GIB:.2f} GiB | {on.total / GIB:.1f} GiB |"
            )
    pose = pose_guider_bytes(get_preset("hunyuan"), frames, h, w) / 2
    print(f"\n(pose guider share of the checkpointing-off activations, bf16: {pose / GIB:.2f} GiB)")


if __name__ == "__main__":
    main()
