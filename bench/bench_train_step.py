"""One fp32 training step (forward + backward + AdamW) of the MMDiT at preset S on CPU.

Prints, from one run:
- the achieved FLOP rate of the step (matmul + attention FLOPs counted by torch's FlopCounterMode)
  divided by this machine's fp32 matmul rate (best 2048^3 sgemm), target >= 0.5;
- the step time divided by that of diffusers' HunyuanVideoTransformer3DModel built at the same
  width, depth, head size and token count (target <= 1.0), for omni without its condition paths
  (the same computation) and with audio + pose on;
- activation memory (bytes saved for backward, weights excluded) with and without activation
  checkpointing.

Both models use the same fused AdamW. Times are the best of --repeats interleaved runs (the
machine is shared; best-of filters out other people's load; `--threads 1 --clock cpu` counts only
this process's CPU time, i.e. ignores time spent preempted by other processes).
Usage: .venv/bin/python bench/bench_train_step.py [--frames 4 --size 32] [--threads 1 --clock cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from omni.model.conditions import Conditions
from omni.model.mmdit import OmniMMDiT
from omni.model.presets import MMDiTConfig, get_preset


def _sdpa_fwd(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(q, k, v)


def _sdpa_bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, q, k, v)


CPU_SDPA = {  # FlopCounterMode knows the CUDA attention kernels only (arguments arrive as shapes)
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_fwd,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_bwd,
}


CLOCK = time.perf_counter  # --clock cpu: time.process_time (this process's CPU time only)


def matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 sgemm rate in FLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        a @ b
        best = min(best, CLOCK() - t0)
    return 2 * n**3 / best


def omni_inputs(cfg: MMDiTConfig, frames: int, size: int, text_len: int, conditions: bool):
    g = torch.Generator().manual_seed(0)
    c, r, s = cfg.in_channels, cfg.latent_temporal_factor, cfg.latent_spatial_factor
    t_pix = 1 + r * (frames - 1)
    x = torch.randn(1, c, frames, size, size, generator=g)
    cond = Conditions(
        text=torch.randn(1, text_len, cfg.text_dim, generator=g),
        ref=torch.randn(1, c, 1, size, size, generator=g),
        audio=torch.randn(1, t_pix, cfg.audio_dim, generator=g) if conditions else None,
        pose=torch.rand(1, cfg.pose_channels, t_pix, size * s, size * s, generator=g)
        if conditions
        else None,
    )
    return x, torch.rand(1, generator=g), cond


class OmniStep:
    def __init__(self, cfg: MMDiTConfig, frames: int, size: int, text_len: int, conditions: bool):
        self.model = OmniMMDiT(cfg)
        for p in self.model.parameters():  # trained-looking weights (no zero paths)
            torch.nn.init.normal_(p, std=0.02)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=True)
        self.x, self.t, self.cond = omni_inputs(cfg, frames, size, text_len, conditions)
        self.target = torch.randn_like(self.x)

    def __call__(self) -> None:
        loss = F.mse_loss(self.model(self.x, self.t, self.cond), self.target)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def flops(self) -> int:
        with FlopCounterMode(display=False, custom_mapping=CPU_SDPA) as counter:
            F.mse_loss(self.model(self.x, self.t, self.cond), self.target).backward()
        self.opt.zero_grad(set_to_none=True)
        return counter.get_total_flops()

    def activation_bytes(self) -> int:
        """Bytes of the storages autograd saves for backward, the weights left out."""
        seen: dict[int, int] = {}
        weights = {p.untyped_storage().data_ptr() for p in self.model.parameters()}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in weights:
                seen[storage.data_ptr()] = storage.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = self.model(self.x, self.t, self.cond)
        del out
        return sum(seen.values())


class DiffusersStep:
    """HunyuanVideo's transformer at omni S's width/depth, dual-stream blocks only, same tokens."""

    def __init__(self, cfg: MMDiTConfig, frames: int, size: int, text_len: int):
        from diffusers import HunyuanVideoTransformer3DModel

        self.model = HunyuanVideoTransformer3DModel(
            in_channels=cfg.in_channels, out_channels=cfg.in_channels, num_attention_heads=cfg.num_heads,
            attention_head_dim=cfg.head_dim, num_layers=cfg.num_dual_blocks, num_single_layers=cfg.num_single_blocks,
            num_refiner_layers=0, mlp_ratio=cfg.mlp_ratio, patch_size=2, patch_size_t=1, guidance_embeds=False,
            text_embed_dim=cfg.text_dim, pooled_projection_dim=cfg.text_dim, rope_axes_dim=cfg.rope_axes,
        )  # fmt: skip
        for p in self.model.parameters():
            torch.nn.init.normal_(p, std=0.02)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=True)
        g = torch.Generator().manual_seed(0)
        # omni's sequence is [reference | frames]: one more latent frame here gives the same tokens
        self.x = torch.randn(1, cfg.in_channels, frames + 1, size, size, generator=g)
        self.text = torch.randn(1, text_len, cfg.text_dim, generator=g)
        self.kwargs = dict(
            timestep=torch.tensor([500.0]), encoder_hidden_states=self.text,
            encoder_attention_mask=torch.ones(1, text_len, dtype=torch.long),
            pooled_projections=torch.randn(1, cfg.text_dim, generator=g),
        )  # fmt: skip
        self.target = torch.randn_like(self.x)

    def __call__(self) -> None:
        loss = F.mse_loss(self.model(self.x, **self.kwargs).sample, self.target)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)


def best_times(steps: dict[str, object], repeats: int) -> dict[str, float]:
    for step in steps.values():
        step()  # warm-up
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):  # interleaved, so load changes hit every variant alike
        for name, step in steps.items():
            t0 = CLOCK()
            step()
            best[name] = min(best[name], CLOCK() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="S")
    ap.add_argument(
        "--frames", type=int, default=4, help="noisy latent frames (+1 reference frame)"
    )
    ap.add_argument("--size", type=int, default=32, help="latent height = width")
    ap.add_argument("--text-len", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="cpu = process CPU time: with --threads 1 it ignores time spent preempted by other "
        "processes on a shared machine (with more threads it would count spin-waits)",
    )  # fmt: skip
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    full = get_preset(args.preset)
    bare = full.replace(audio_dim=0, pose_channels=0)
    shape = (args.frames, args.size, args.text_len)
    steps = {
        "omni": OmniStep(bare, *shape, conditions=False),
        "omni+audio+pose": OmniStep(full, *shape, conditions=True),
        "diffusers": DiffusersStep(bare, *shape),
    }
    tokens = (args.frames + 1) * (args.size // 2) ** 2
    print(f"preset {args.preset}: hidden {bare.hidden_size}, {bare.num_dual_blocks} dual blocks; "
          f"{tokens} video tokens (reference + {args.frames} frames at {args.size}x{args.size} latent) "
          f"+ {args.text_len} text tokens; {args.threads} threads; fp32; {args.clock} clock")  # fmt: skip
    flops_by = {name: steps[name].flops() for name in ("omni", "omni+audio+pose")}
    rate = matmul_rate()
    times = best_times(steps, args.repeats)
    rate = max(rate, matmul_rate())  # best of before and after
    print(f"machine fp32 matmul rate (2048^3 sgemm, best): {rate / 1e9:.1f} GFLOP/s")
    for name in ("omni", "omni+audio+pose"):
        flops = flops_by[name]
        achieved = flops / times[name]
        print(
            f"{name:>16}: step {times[name]:.3f} s, {flops / 1e9:.1f} GFLOP (fwd+bwd), "
            f"{achieved / 1e9:.1f} GFLOP/s = {achieved / rate:.2f} of matmul rate; "
            f"time / diffusers = {times[name] / times['diffusers']:.2f}"
        )
    print(
        f"{'diffusers':>16}: step {times['diffusers']:.3f} s (HunyuanVideoTransformer3DModel, same size)"
    )
    del steps
    for ckpt in (False, True):
        step = OmniStep(full.replace(gradient_checkpointing=ckpt), *shape, conditions=True)
        print(f"activation memory, checkpointing {'on ' if ckpt else 'off'}: "
              f"{step.activation_bytes() / 2**20:.0f} MiB saved for backward")  # fmt: skip
    params = sum(p.numel() for p in OmniMMDiT(full).parameters())
    print(
        f"parameters {params / 1e6:.1f}M: weights + grads + AdamW state = {16 * params / 2**20:.0f} MiB"
    )


if __name__ == "__main__":
    main()
