"""`OmniMMDiT`: the conditioned MMDiT of OmniHuman-1 (plain nn.Module).

Token layout of one row (see docs/model.md):

    video stream: [ reference (1 frame) | motion frames (M) | noisy frames (F) ]   x (h/2 * w/2) each
    text stream:  [ text tokens (L) ]
    RoPE (t, h, w): t = 0 for the reference, 1..M motion, M+1..M+F noisy (without a reference the
    frames start at 0, as in the text-to-video model); text tokens are not rotated.

Reference and motion latents are clean and go through the same patch embedding as the noisy
latent (no ReferenceNet). Pose heatmaps are turned into latent-grid offsets added to the noisy
latent before patchifying; audio tokens enter every block by cross-attention. The velocity is
predicted for the noisy frames only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from omni.model.blocks import AudioContext, DualStreamBlock, FinalLayer, SingleStreamBlock
from omni.model.conditions import Conditions
from omni.model.embedders import AudioEmbedder, PoseGuider, TextEmbedder
from omni.model.layers import Mlp, TimestepEmbedder, all_true, any_true
from omni.model.presets import MMDiTConfig
from omni.model.rope import rope_frequencies, video_positions


class OmniMMDiT(nn.Module):
    """forward(x (B, C, F, h, w), t (B,), cond: Conditions) -> velocity (B, C, F, h, w)."""

    def __init__(self, config: MMDiTConfig) -> None:
        super().__init__()
        self.config = cfg = config
        d, (pt, ph, pw) = cfg.hidden_size, cfg.patch_size
        patch_dim = cfg.in_channels * pt * ph * pw
        self.x_embed = nn.Linear(patch_dim, d)
        self.time_embed = TimestepEmbedder(d)
        self.guidance_embed = TimestepEmbedder(d) if cfg.guidance_embed else None
        self.pooled_embed = (
            Mlp(cfg.pooled_text_dim, d, d, act="silu") if cfg.pooled_text_dim else None
        )
        self.null_pooled = (
            nn.Parameter(torch.zeros(cfg.pooled_text_dim)) if cfg.pooled_text_dim else None
        )
        self.text_embed = TextEmbedder(
            cfg.text_dim, d, cfg.num_heads, cfg.text_refiner_layers, cfg.norm_eps
        )
        self.audio_embed = (
            AudioEmbedder(
                cfg.audio_dim, cfg.audio_window, d, cfg.latent_temporal_factor, cfg.audio_context
            )
            if cfg.audio_dim
            else None
        )
        self.pose_guider = (
            PoseGuider(
                cfg.pose_channels,
                cfg.pose_hidden,
                cfg.in_channels,
                cfg.latent_temporal_factor,
                cfg.latent_spatial_factor,
                cfg.pose_window,
            )
            if cfg.pose_channels
            else None
        )
        self.blocks = nn.ModuleList(DualStreamBlock(cfg) for _ in range(cfg.num_dual_blocks))
        self.single_blocks = nn.ModuleList(
            SingleStreamBlock(cfg) for _ in range(cfg.num_single_blocks)
        )
        self.final = FinalLayer(d, patch_dim, cfg.norm_eps)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT init: xavier linears, N(0, 0.02) timestep MLPs, and zero for every adaLN modulation,
        the final projection and the outputs of the new condition paths (audio, pose, null text)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        refiner = getattr(self.text_embed, "refiner", None)
        for emb in (self.time_embed, self.guidance_embed, refiner and refiner.time):
            if emb is not None:
                nn.init.normal_(emb.mlp.fc1.weight, std=0.02)
                nn.init.normal_(emb.mlp.fc2.weight, std=0.02)
        zero: list[nn.Module] = [self.final.mod, self.final.linear]
        for block in self.blocks:
            zero += [block.video.mod, block.text.mod]
        zero += [block.mod for block in self.single_blocks]
        zero += [b.audio.out for b in [*self.blocks, *self.single_blocks] if b.audio is not None]
        if self.pose_guider is not None:
            zero.append(self.pose_guider.out)
        if refiner is not None:
            zero += [block.gate for block in refiner.blocks]
        for module in zero:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, t: Tensor, cond: Conditions) -> Tensor:
        cfg = self.config
        b, _, f, h, w = self._check_latent(x, t)
        pt, ph, pw = cfg.patch_size
        dev = x.device

        # 1. Pose: latent-grid offsets added to the noisy latent of rows with pose active.
        if self.pose_guider is not None and cond.pose is not None:
            self._check_pose(cond.pose, b, f, h, w)
            active = cond.is_active("pose", b, dev)
            if any_true(active):
                offsets = self._run(self.pose_guider, cond.pose)  # (B, C, F, h, w)
                x = x + offsets * active.view(b, 1, 1, 1, 1).to(x.dtype)

        # 2. Patchify [reference | motion | noisy] in one sequence.
        clean = [self._check_clean(cond, name, b, h, w) for name in ("ref", "motion")]
        clean = [c for c in clean if c is not None]
        latent = torch.cat([*clean, x], dim=2) if clean else x  # (B, C, Fr + M + F, h, w)
        tokens = self.x_embed(
            rearrange(
                latent, "b c (f pt) (h ph) (w pw) -> b (f h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw
            )
        )  # (B, Nv, D)
        gh, gw = h // ph, w // pw
        num_clean = sum(c.shape[2] for c in clean) * gh * gw

        # 3. Conditioning vector from timestep, guidance scale and pooled text.
        t_scaled = t * cfg.timestep_scale
        temb = self.time_embed(t_scaled)  # (B, D)
        if self.guidance_embed is not None:
            if cond.guidance is None:
                raise ValueError(
                    "this model embeds a guidance scale: expected cond.guidance (B,), got None"
                )
            temb = temb + self.guidance_embed(cond.guidance * cfg.timestep_scale)
        text_active = cond.is_active("text", b, dev)
        if self.pooled_embed is not None:
            pooled = (
                cond.text_pooled if cond.text_pooled is not None else self.null_pooled.expand(b, -1)
            )
            pooled = torch.where(text_active[:, None], pooled, self.null_pooled)
            temb = temb + self.pooled_embed(pooled)
        c = F.silu(temb)

        # 4. Text stream and the joint key mask (inactive reference / motion tokens are hidden).
        if cond.text is not None:
            self._check_text(cond, b)
        y, text_mask = self.text_embed(
            cond.text, cond.text_mask, text_active, t_scaled
        )  # (B, L, D)
        key_mask = self._key_mask(cond, b, gh * gw, tokens.shape[1], text_mask)

        # 5. RoPE table over [video, text]; text rows rotate by 0.
        pos = video_positions(torch.arange(latent.shape[2], device=dev), gh, gw, dev)
        freqs = rope_frequencies(pos, cfg.rope_axes, cfg.rope_theta)  # (Nv, d/2) complex
        freqs = torch.cat([freqs, freqs.new_ones(y.shape[1], freqs.shape[1])])  # (Nv + L, d/2)

        # 6. Audio tokens per noisy latent frame.
        audio = self._audio_context(cond, b, f, num_clean, x.dtype)

        # 7. Blocks.
        for block in [*self.blocks, *self.single_blocks]:
            tokens, y = self._run(block, tokens, y, c, freqs, key_mask, audio)

        # 8. Velocity of the noisy tokens, back to (B, C, F, h, w).
        out = self.final(tokens[:, num_clean:], c)  # (B, F gh gw, C pt ph pw)
        return rearrange(
            out,
            "b (f h w) (c pt ph pw) -> b c (f pt) (h ph) (w pw)",
            f=f // pt,
            h=gh,
            w=gw,
            pt=pt,
            ph=ph,
            pw=pw,
        )

    # --- helpers -------------------------------------------------------------------------------

    def _run(self, module: nn.Module, *args):
        """module(*args), recomputed in the backward pass when gradient checkpointing is on."""
        if self.config.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(module, *args, use_reentrant=False)
        return module(*args)

    def _check_latent(self, x: Tensor, t: Tensor) -> tuple[int, int, int, int, int]:
        cfg = self.config
        _, ph, pw = cfg.patch_size
        if x.ndim != 5 or x.shape[1] != cfg.in_channels or x.shape[3] % ph or x.shape[4] % pw:
            raise ValueError(
                f"latent must be (B, {cfg.in_channels}, F, h, w) with h % {ph} == 0 and w % {pw} == 0, "
                f"got {tuple(x.shape)}"
            )
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be ({x.shape[0]},), got {tuple(t.shape)}")
        return tuple(x.shape)  # type: ignore[return-value]

    def _check_clean(self, cond: Conditions, name: str, b: int, h: int, w: int) -> Tensor | None:
        lat = getattr(cond, name)
        if lat is None:
            return None
        c = self.config.in_channels
        if lat.ndim != 5 or lat.shape[0] != b or lat.shape[1] != c or lat.shape[3:] != (h, w):
            frames = "1" if name == "ref" else "M"
            raise ValueError(
                f"cond.{name} must be a latent (B, C, {frames}, h, w) = ({b}, {c}, {frames}, {h}, {w}), "
                f"got {tuple(lat.shape)}"
            )
        if name == "ref" and lat.shape[2] != 1:
            raise ValueError(f"cond.ref must have 1 latent frame, got {lat.shape[2]}")
        return lat

    def _check_text(self, cond: Conditions, b: int) -> None:
        dt = self.config.text_dim
        text = cond.text
        if text.ndim != 3 or text.shape[0] != b or text.shape[2] != dt or text.shape[1] < 1:
            raise ValueError(
                f"cond.text must be (B, L>=1, {dt}) with B={b}, got {tuple(text.shape)}"
            )
        if cond.text_mask is not None and cond.text_mask.shape != text.shape[:2]:
            raise ValueError(
                f"cond.text_mask must be {tuple(text.shape[:2])} (B, L) bool, got {tuple(cond.text_mask.shape)}"
            )

    def _pixel_frames(self, f: int) -> int:
        return 1 + self.config.latent_temporal_factor * (f - 1)

    def _check_pose(self, pose: Tensor, b: int, f: int, h: int, w: int) -> None:
        cfg = self.config
        s = cfg.latent_spatial_factor
        want = (b, cfg.pose_channels, self._pixel_frames(f), h * s, w * s)
        if tuple(pose.shape) != want:
            raise ValueError(
                f"cond.pose must be heatmaps (B, K, 1 + {cfg.latent_temporal_factor}*(F-1), H, W) = {want} "
                f"for a latent of {f} frames at {h}x{w}, got {tuple(pose.shape)}"
            )

    def _audio_context(
        self, cond: Conditions, b: int, f: int, num_clean: int, dtype: torch.dtype
    ) -> AudioContext | None:
        if self.audio_embed is None or cond.audio is None:
            return None
        active = cond.is_active("audio", b, cond.audio.device)
        if not any_true(active):
            return None
        want = (b, self._pixel_frames(f), self.config.audio_dim)
        if tuple(cond.audio.shape) != want:
            raise ValueError(
                f"cond.audio must be (B, 1 + {self.config.latent_temporal_factor}*(F-1), audio_dim) = {want} "
                f"for a latent of {f} frames, got {tuple(cond.audio.shape)}"
            )
        tokens = self.audio_embed(cond.audio)  # (B, F, R, D)
        return AudioContext(tokens, active.view(b, 1, 1).to(dtype), num_clean)

    def _key_mask(
        self, cond: Conditions, b: int, per_frame: int, num_video: int, text_mask: Tensor
    ) -> Tensor | None:
        dev = text_mask.device
        parts, used = [], 0
        for name in ("ref", "motion"):
            lat = getattr(cond, name)
            if lat is not None:
                n = lat.shape[2] * per_frame
                parts.append(cond.is_active(name, b, dev)[:, None].expand(b, n))
                used += n
        parts.append(torch.ones(b, num_video - used, dtype=torch.bool, device=dev))
        mask = torch.cat([*parts, text_mask], dim=1)  # (B, Nv + L)
        return None if all_true(mask) else mask
