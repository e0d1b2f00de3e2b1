"""Video VAEs with one interface: video (B, 3, 1+r*k, H, W) in [-1, 1] <-> latent (B, C, 1+k, H/s, W/s).

- `CausalVAE`: the project's own small causal 3D VAE (trained by `omni fit --stage vae`).
- `PatchVAE`: the exact "identity" VAE for pixel-space toy runs (s x s pixel patches -> channels).
- `DiffusersVAE`: a diffusers causal video VAE (`AutoencoderKLWan` format) from a local directory.

Causal means latent frame 0 encodes pixel frame 0 alone and latent frame j >= 1 encodes pixel
frames r*(j-1)+1 .. r*j, so a still image is a 1-frame video and 5 frames make 2 latent frames.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class VideoVAE(nn.Module):
    """Common interface; subclasses set the three factors and implement _encode / _decode."""

    latent_channels: int
    temporal_factor: int
    spatial_factor: int

    def check_video(self, video: Tensor) -> None:
        r, s = self.temporal_factor, self.spatial_factor
        ok = video.ndim == 5 and video.shape[1] == 3
        ok = (
            ok
            and (video.shape[2] - 1) % r == 0
            and video.shape[3] % s == 0
            and video.shape[4] % s == 0
        )
        if not ok:
            raise ValueError(
                f"video must be (B, 3, 1+{r}k, H, W) with H and W divisible by {s}, got "
                f"{tuple(video.shape)}; trim or pad the clip to a valid length/size"
            )

    def check_latent(self, latent: Tensor) -> None:
        if latent.ndim != 5 or latent.shape[1] != self.latent_channels:
            raise ValueError(
                f"latent must be (B, {self.latent_channels}, F, h, w), got {tuple(latent.shape)}"
            )

    def latent_frames(self, pixel_frames: int) -> int:
        return 1 + (pixel_frames - 1) // self.temporal_factor

    def pixel_frames(self, latent_frames: int) -> int:
        return 1 + self.temporal_factor * (latent_frames - 1)

    def encode(self, video: Tensor) -> Tensor:
        """(B, 3, 1+r k, H, W) in [-1, 1] -> (B, C, 1+k, H/s, W/s) (the posterior mean, scaled)."""
        self.check_video(video)
        return self._encode(video)

    def decode(self, latent: Tensor) -> Tensor:
        """(B, C, 1+k, h, w) -> (B, 3, 1+r k, h s, w s), clamped to [-1, 1]."""
        self.check_latent(latent)
        return self._decode(latent).clamp(-1, 1)

    def _encode(self, video: Tensor) -> Tensor:
        raise NotImplementedError

    def _decode(self, latent: Tensor) -> Tensor:
        raise NotImplementedError


class PatchVAE(VideoVAE):
    """Exact, parameter-free: each s x s pixel patch becomes 3 s^2 channels; no temporal factor."""

    temporal_factor = 1

    def __init__(self, patch: int = 2) -> None:
        super().__init__()
        self.spatial_factor = patch
        self.latent_channels = 3 * patch * patch

    def _encode(self, video: Tensor) -> Tensor:
        s = self.spatial_factor
        return rearrange(video, "b c t (h p) (w q) -> b (c p q) t h w", p=s, q=s)

    def _decode(self, latent: Tensor) -> Tensor:
        s = self.spatial_factor
        return rearrange(latent, "b (c p q) t h w -> b c t (h p) (w q)", p=s, q=s)


# --- the project's causal VAE -------------------------------------------------------------------


@dataclass
class CausalVAEConfig:
    """Architecture of `CausalVAE`."""

    latent_channels: int = 16
    """Latent channels C."""
    base_channels: int = 32
    """Channels of the first level; level i has base_channels * channel_mult[i]."""
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    """Per-level multipliers; there are len - 1 downsamplings (spatial factor 2^(len-1))."""
    temporal_down: tuple[bool, ...] = (True, True, False)
    """Which downsamplings also halve time (causally); temporal factor 2^count."""
    scaling_factor: float = 1.0
    """Latents are multiplied by this after encoding (set from data statistics after training)."""

    def __post_init__(self) -> None:
        self.channel_mult, self.temporal_down = tuple(self.channel_mult), tuple(self.temporal_down)
        if len(self.temporal_down) != len(self.channel_mult) - 1:
            raise ValueError(
                f"temporal_down needs one flag per downsampling ({len(self.channel_mult) - 1}), "
                f"got {len(self.temporal_down)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class CausalConv3d(nn.Conv3d):
    """3D conv padded on the past side only in time (first frame replicated), 'same' in space."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 3, stride: tuple[int, int, int] = (1, 1, 1)
    ):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=(0, kernel // 2, kernel // 2))
        self.time_pad = kernel - 1

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat(
            [x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2
        )  # (B, C, T+k-1, H, W)
        return super().forward(x)


class FrameNorm(nn.GroupNorm):
    """GroupNorm over (channels, H, W) of each frame separately, so normalisation stays causal."""

    def __init__(self, channels: int) -> None:
        super().__init__(min(8, channels), channels)

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[2]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", t=t)


class ResBlock3d(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1 = FrameNorm(c_in)
        self.conv1 = CausalConv3d(c_in, c_out)
        self.norm2 = FrameNorm(c_out)
        self.conv2 = CausalConv3d(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Upsample(nn.Module):
    """x2 in space (nearest) and optionally x2 in time (frame 0 stays single, others doubled)."""

    def __init__(self, channels: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.conv = CausalConv3d(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.temporal:
            x = torch.cat(
                [x[:, :, :1], x[:, :, 1:].repeat_interleave(2, dim=2)], dim=2
            )  # 1+k -> 1+2k
        x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        return self.conv(x)


class CausalVAE(VideoVAE):
    """Small KL autoencoder of causal 3D convolutions (one ResBlock per level)."""

    def __init__(self, config: CausalVAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CausalVAEConfig()
        chans = [cfg.base_channels * m for m in cfg.channel_mult]
        self.latent_channels = cfg.latent_channels
        self.spatial_factor = 2 ** (len(chans) - 1)
        self.temporal_factor = 2 ** sum(cfg.temporal_down)
        enc: list[nn.Module] = [CausalConv3d(3, chans[0])]
        for i, c in enumerate(chans):
            enc.append(ResBlock3d(chans[i - 1] if i else chans[0], c))
            if i < len(chans) - 1:
                enc.append(CausalConv3d(c, c, stride=(2 if cfg.temporal_down[i] else 1, 2, 2)))
        enc += [FrameNorm(chans[-1]), nn.SiLU(), CausalConv3d(chans[-1], 2 * cfg.latent_channels)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [CausalConv3d(cfg.latent_channels, chans[-1])]
        for i in reversed(range(len(chans))):
            dec.append(ResBlock3d(chans[min(i + 1, len(chans) - 1)], chans[i]))
            if i > 0:
                dec.append(Upsample(chans[i], cfg.temporal_down[i - 1]))
        dec += [FrameNorm(chans[0]), nn.SiLU(), CausalConv3d(chans[0], 3)]
        self.decoder = nn.Sequential(*dec)

    def posterior(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, logvar), each (B, C, 1+k, H/s, W/s), unscaled."""
        self.check_video(video)
        mean, logvar = self.encoder(video).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def _encode(self, video: Tensor) -> Tensor:
        return self.posterior(video)[0] * self.config.scaling_factor

    def _decode(self, latent: Tensor) -> Tensor:
        return self.decoder(latent / self.config.scaling_factor)

    def forward(
        self, video: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Training pass: (reconstruction, mean, logvar) with a reparameterised posterior sample."""
        mean, logvar = self.posterior(video)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return self.decoder(mean + (0.5 * logvar).exp() * noise), mean, logvar


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) averaged over all elements."""
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar).mean()


# --- diffusers -----------------------------------------------------------------------------------


class DiffusersVAE(VideoVAE):
    """Frozen diffusers causal video VAE from a local directory (config.json + weights).

    Supported classes (read from config.json's `_class_name`): `AutoencoderKLWan` (latents are
    normalised per channel with latents_mean / latents_std) and `AutoencoderKLHunyuanVideo`
    (latents multiplied by scaling_factor), as their pipelines do.
    """

    SUPPORTED = ("AutoencoderKLWan", "AutoencoderKLHunyuanVideo")

    def __init__(self, path: str | Path, class_name: str | None = None) -> None:
        """`class_name` (as recorded in a saved omni config): build that class; the directory's
        config.json `_class_name`, when it has one, must agree."""
        super().__init__()
        import diffusers

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ValueError(
                f"VAE directory {str(path)!r} has no config.json: expected a diffusers "
                f"save_pretrained directory of one of {self.SUPPORTED} (a pipeline's 'vae' folder)"
            )
        found = json.loads((path / "config.json").read_text()).get("_class_name")
        if class_name is not None and found is not None and found != class_name:
            raise ValueError(
                f"{path}: expected a VAE of class {class_name!r} (saved in the model config), "
                f"got {found!r}"
            )
        name = class_name or found
        if name not in self.SUPPORTED:
            raise ValueError(f"{path}: expected a VAE of class {self.SUPPORTED}, got {name!r}")
        self.class_name: str = name
        vae = getattr(diffusers, name).from_pretrained(path, local_files_only=True)
        self.vae = vae.eval().requires_grad_(False)
        cfg = self.vae.config
        if name == "AutoencoderKLWan":
            self.latent_channels = cfg.z_dim
            self.temporal_factor = cfg.scale_factor_temporal or 2 ** sum(cfg.temperal_downsample)
            self.spatial_factor = cfg.scale_factor_spatial or 2 ** (len(cfg.dim_mult) - 1)
            mean, std = torch.tensor(cfg.latents_mean), torch.tensor(cfg.latents_std)
        else:
            self.latent_channels = cfg.latent_channels
            self.temporal_factor = cfg.temporal_compression_ratio
            self.spatial_factor = cfg.spatial_compression_ratio
            mean = torch.zeros(cfg.latent_channels)
            std = torch.full((cfg.latent_channels,), 1.0 / cfg.scaling_factor)
        shape = (1, self.latent_channels, 1, 1, 1)
        self.register_buffer("mean", mean.view(shape), persistent=False)
        self.register_buffer("std", std.view(shape), persistent=False)

    @torch.no_grad()
    def _encode(self, video: Tensor) -> Tensor:
        latent = self.vae.encode(video).latent_dist.mode()
        return (latent - self.mean) / self.std

    @torch.no_grad()
    def _decode(self, latent: Tensor) -> Tensor:
        return self.vae.decode(latent * self.std + self.mean).sample
