"""`--stage vae`: train the project's small causal VAE (omni.model.vae.CausalVAE).

Loss = L1 reconstruction + kl_weight * KL to N(0, I). The RMS of the posterior means is tracked
during training; checkpoints store the VAE config with `scaling_factor` = 1 / that RMS (key
`vae_config`), so the diffusion stages see roughly unit-variance latents. EMA weights are used
for validation and are what the checkpoint's `ema` entry holds for export.
"""

from __future__ import annotations

import dataclasses

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from omni.model.vae import CausalVAE, CausalVAEConfig, kl_divergence
from omni.training.ema import EMA
from omni.training.optim import adamw_with_warmup

VAE_SIZES: dict[str, int] = {"tiny": 16, "S": 32, "B": 64, "L": 64, "paper": 128}
"""base_channels of the causal VAE per size preset (when `vae` is not given)."""


class VAEModule(pl.LightningModule):
    """Trains a `CausalVAE` on the datamodule's `video` windows.

    Args:
        vae: architecture of the causal VAE; None = the preset's size (`VAE_SIZES`).
        lr: AdamW peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear learning-rate warm-up from 0.
        kl_weight: weight of the KL term against the L1 reconstruction.
        ema_decay: decay of the EMA weights; 0 disables EMA.
        preset: size preset, picks the VAE width when `vae` is None.
        init_from: a checkpoint of this module to start from.
    """

    def __init__(
        self,
        vae: CausalVAEConfig | None = None,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 100,
        kl_weight: float = 1e-6,
        ema_decay: float = 0.999,
        preset: str = "tiny",
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if vae is None:
            if preset not in VAE_SIZES:
                raise ValueError(f"unknown preset {preset!r}; expected one of {list(VAE_SIZES)}")
            vae = CausalVAEConfig(base_channels=VAE_SIZES[preset])
        self.vae = CausalVAE(vae)
        if init_from is not None:
            state = torch.load(init_from, map_location="cpu", weights_only=True)["state_dict"]
            self.load_state_dict(state)
        self.ema = EMA(self.vae, ema_decay) if ema_decay > 0 else None
        # bias-corrected running mean of the squared posterior means (as Adam's moments)
        self.register_buffer("latent_sq", torch.zeros(()))
        self.register_buffer("latent_weight", torch.zeros(()))

    def _losses(self, video: torch.Tensor, generator=None) -> dict[str, torch.Tensor]:
        recon, mean, logvar = self.vae(video, generator=generator)
        if self.training:
            with torch.no_grad():
                self.latent_sq.lerp_(mean.float().square().mean(), 0.01)
                self.latent_weight.lerp_(torch.ones_like(self.latent_weight), 0.01)
        l1 = F.l1_loss(recon, video)
        kl = kl_divergence(mean, logvar)
        mse = F.mse_loss(recon.clamp(-1, 1), video)
        psnr = 10 * torch.log10(4.0 / mse.clamp_min(1e-10))  # signal range [-1, 1]
        return {"loss": l1 + self.hparams.kl_weight * kl, "l1": l1, "kl": kl, "psnr": psnr}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self._losses(batch["video"])
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True)
        return losses["loss"]

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.vae)

    def on_validation_epoch_start(self) -> None:
        self._ema_ctx = self.ema.swapped(self.vae) if self.ema is not None else None
        if self._ema_ctx is not None:
            self._ema_ctx.__enter__()

    def on_validation_epoch_end(self) -> None:
        if self._ema_ctx is not None:
            self._ema_ctx.__exit__(None, None, None)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        generator = torch.Generator(batch["video"].device).manual_seed(batch_idx)
        losses = self._losses(batch["video"], generator=generator)
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, sync_dist=True)

    @torch.no_grad()
    def sample(self, batch: dict, steps: int | None = None) -> torch.Tensor:
        """Reconstructions of the batch's windows (the VAE stage's sample videos)."""
        return self.vae.decode(self.vae.encode(batch["video"])).clamp(-1, 1)

    def configure_optimizers(self):
        hp = self.hparams
        return adamw_with_warmup(self.vae.parameters(), hp.lr, hp.weight_decay, hp.warmup_steps)

    def vae_config(self) -> CausalVAEConfig:
        """The trained VAE's config, with the measured latent scaling factor."""
        if float(self.latent_weight) == 0:
            return self.vae.config
        rms = float((self.latent_sq / self.latent_weight).sqrt().clamp_min(1e-6))
        return dataclasses.replace(self.vae.config, scaling_factor=1.0 / rms)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["vae_config"] = self.vae_config().to_dict()
        if self.ema is not None:
            checkpoint["ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if self.ema is not None and "ema" in checkpoint:
            self.ema.load_state_dict(checkpoint["ema"])
